"""The tables every stream shares: keyspace, rejects, dirty marks, watermarks, dimensions.

Each stream's own tables are declared in its spec (jobs/streams/) and added here.

Every statement here is idempotent, so `python -m jobs migrate` can run on every deploy.
"""

from __future__ import annotations


def cassandra_ddl(keyspace: str, replication_factor: int, raw_ttl_days: int) -> list[str]:
    """`raw_ttl_days` is the rejects' TTL; each stream's raw table gets its own retention."""
    return [
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}",
        rejects_ddl(keyspace, "rejects", raw_ttl_days),
        # An existing table keeps the TTL it was created with unless it is altered.
        f"ALTER TABLE {keyspace}.rejects WITH default_time_to_live = {raw_ttl_days * 86400}",
    ]


def rejects_ddl(keyspace: str, table: str, ttl_days: int) -> str:
    """One row per rejected Kafka record, keyed by where it lies in Kafka: reading the same
    record again, on any day and by any run, overwrites its row rather than adding one. A
    partition holds one Kafka partition's rejects of one day (the record's own timestamp, so
    a re-read lands in the same one), and a row keeps at most `TIDEMARK_MAX_PAYLOAD_BYTES` of
    its payload (all of any payload that could parse) with the whole payload's size and
    SHA-256: a flood of huge messages cannot grow a partition without bound."""
    return f"""CREATE TABLE IF NOT EXISTS {keyspace}.{table} (
  topic text,
  partition int,
  kafka_day date,
  offset bigint,
  kafka_time timestamp,
  stream text,
  seen_day date,
  seen_at timestamp,
  reason text,
  detail text,
  payload blob,
  payload_bytes int,
  payload_sha256 text,
  PRIMARY KEY ((topic, partition, kafka_day), offset)
) WITH default_time_to_live = {ttl_days * 86400}"""


def binary_collation(server_version: str) -> str:
    """The collation under which text compares byte for byte in the jobs' database, as raw
    stores it, given the server's `SELECT VERSION()`. `ad_7`, `AD_7` and `ad_7 ` are three keys
    of a rollup, never one row they all upsert: a case-folding collation made every run fail,
    and a PAD SPACE one (utf8mb4_bin, on both servers) makes two partials of one bucket collide
    on a key that differs by trailing spaces, which sets the bucket aside for good. The NO PAD
    binary collation is named differently by MySQL (8.0.17 and later) and MariaDB (10.2 and
    later)."""
    return "utf8mb4_nopad_bin" if "mariadb" in server_version.lower() else "utf8mb4_0900_bin"


def mysql_ddl(database: str, collation: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4 COLLATE {collation}",
        # An older install's database: its tables are converted by migrate (jobs/migrate.py).
        f"ALTER DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE {collation}",
        # Which buckets ingest touched, and when; aggregate reads those marked after its
        # watermark through the (stream, marked_at) index, so its cost follows new data.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.dirty_buckets (
  stream VARCHAR(32) NOT NULL,
  bucket DATETIME NOT NULL,
  marked_at DATETIME(6) NOT NULL,
  PRIMARY KEY (stream, bucket),
  KEY by_mark (stream, marked_at)
)""",
        # Each aggregate run of a stream takes the next token under the stream's named lock, and
        # commits a chunk only while the token is still its own (jobs/aggregate.py: fencing).
        f"""CREATE TABLE IF NOT EXISTS `{database}`.aggregate_leases (
  stream VARCHAR(32) NOT NULL PRIMARY KEY,
  token BIGINT NOT NULL,
  run_id VARCHAR(64) NOT NULL,
  taken_at DATETIME(6) NOT NULL
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.watermarks (
  stream VARCHAR(32) NOT NULL PRIMARY KEY,
  marked_through DATETIME(6) NOT NULL,
  newest_event_time DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.job_dim (
  job_id INT NOT NULL PRIMARY KEY,
  company_id INT NOT NULL,
  campaign_id INT NULL,
  group_id INT NULL,
  title VARCHAR(255) NULL,
  updated_at DATETIME(6) NOT NULL
)""",
    ]


def recruit_ddl(database: str) -> list[str]:
    """The operational tables of the recruitment platform that CDC watches."""
    return [
        f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.company (
  id INT NOT NULL PRIMARY KEY, name VARCHAR(255) NOT NULL, is_active TINYINT NOT NULL DEFAULT 1,
  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.campaign (
  id INT NOT NULL PRIMARY KEY, company_id INT NOT NULL, campaign_name VARCHAR(255) NOT NULL,
  budget_total DECIMAL(20,6) NOT NULL, is_active TINYINT NOT NULL DEFAULT 1)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.`group` (
  id INT NOT NULL PRIMARY KEY, campaign_id INT NOT NULL, company_id INT NOT NULL,
  name VARCHAR(255) NOT NULL, budget_group DECIMAL(20,6) NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.job (
  id INT NOT NULL PRIMARY KEY, company_id INT NOT NULL, group_id INT NULL, campaign_id INT NULL,
  title VARCHAR(255) NOT NULL, work_location VARCHAR(255) NULL, status TINYINT NOT NULL DEFAULT 1,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.master_publisher (
  id INT NOT NULL PRIMARY KEY, publisher_name VARCHAR(255) NOT NULL, email VARCHAR(255) NULL,
  access_level TINYINT NOT NULL DEFAULT 1)""",
    ]
