"""The contracts the producer and the jobs share, and nothing else: message formats
(`formats`), Kafka access (`kafka_auth`) and the environment-variable convention of every
process's settings (`env`). No Spark here, so the producer image carries no job."""
