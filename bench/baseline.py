"""The naive consumer tidemark is measured against, as the seeds ship it: kafka-python reads
the topic, and cassandra-driver executes one INSERT per message, waiting for each.

    python -m bench.baseline --topic T --keyspace K --events N

It parses each message as JSON when it can (as the seeds' consumers do) and stores the
payload under (topic, partition, offset) in `K.baseline_raw`. It prints one line,
`baseline N events in S s (R/s)`, timed from the first message to the last insert.
"""

from __future__ import annotations

import argparse
import sys
import time

import orjson
from kafka import KafkaConsumer

from local import kafka_users, stack


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--topic", action="append", required=True, help="a topic to read (repeatable)")
    parser.add_argument("--keyspace", required=True)
    parser.add_argument("--events", type=int, required=True)
    args = parser.parse_args(argv)

    cluster = stack.cassandra_cluster()
    session = cluster.connect()
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {args.keyspace} "
        "WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {args.keyspace}.baseline_raw "
        "(topic text, partition int, offset bigint, event text, payload blob, "
        "PRIMARY KEY ((topic, partition), offset))"
    )
    insert = session.prepare(
        f"INSERT INTO {args.keyspace}.baseline_raw (topic, partition, offset, event, payload) VALUES (?, ?, ?, ?, ?)"
    )
    consumer = KafkaConsumer(
        *args.topic,
        # The naive reader is given the jobs' identity: the same ACLs as ingest.
        **kafka_users.kafka_python(f"{stack.HOST}:{stack.PORTS['kafka']}", kafka_users.JOBS),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=30_000,
    )
    done = 0
    started = 0.0
    for message in consumer:
        if not started:
            started = time.monotonic()
        try:
            event = orjson.loads(message.value)
            kind = str(event.get("custom_track")) if isinstance(event, dict) else None
        except orjson.JSONDecodeError:
            kind = None
        session.execute(insert, (message.topic, message.partition, message.offset, kind, message.value))
        done += 1
        if done >= args.events:
            break
    seconds = time.monotonic() - started if started else 0.0
    consumer.close()
    cluster.shutdown()
    print(f"baseline {done} events in {seconds:.2f} s ({done / seconds if seconds else 0:.0f}/s)")
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
