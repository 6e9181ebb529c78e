"""The data contracts: tracking beacon fields, Cassandra tables and MySQL tables.

Every statement here is idempotent, so `python -m jobs migrate` can run on every deploy.
"""

from __future__ import annotations

from typing import Literal

TRACKING = "tracking"
TRACKING_BUCKET_SECONDS = 60

BeaconType = Literal["timeuuid", "int", "double", "text"]

# The tracking beacon as producers send it (DESIGN 4.1), with its type in the raw table.
BEACON_FIELDS: dict[str, BeaconType] = {
    "create_time": "timeuuid",
    "bid": "double",
    "campaign_id": "int",
    "group_id": "int",
    "job_id": "int",
    "publisher_id": "int",
    "custom_track": "text",
    "ts": "text",
    "tz": "int",
    "bn": "text",
    "cd": "int",
    "de": "text",
    "dl": "text",
    "dt": "text",
    "ed": "text",
    "ev": "int",
    "id": "text",
    "md": "text",
    "rl": "text",
    "sr": "text",
    "ua": "text",
    "uid": "text",
    "utm_campaign": "text",
    "utm_content": "text",
    "utm_medium": "text",
    "utm_source": "text",
    "utm_term": "text",
    "v": "int",
    "vp": "text",
}

# custom_track values that the hourly table counts; empty means a page view (impression).
COUNTED_TRACKS = {
    "click": "clicks",
    "conversion": "conversion",
    "qualified": "qualified_application",
    "unqualified": "disqualified_application",
}


def cassandra_ddl(keyspace: str, replication_factor: int, raw_ttl_days: int) -> list[str]:
    beacon_columns = ",\n  ".join(f"{name} {kind}" for name, kind in BEACON_FIELDS.items())
    return [
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication_factor}}}",
        # (bucket, shard) bounds each partition; the event id as clustering key makes a
        # replayed event overwrite itself.
        f"""CREATE TABLE IF NOT EXISTS {keyspace}.tracking_raw (
  bucket timestamp,
  shard int,
  event_time timestamp,
  {beacon_columns},
  PRIMARY KEY ((bucket, shard), create_time)
) WITH default_time_to_live = {raw_ttl_days * 86400}""",
        # One row per rejected Kafka record; (topic, partition, offset) makes a replay idempotent.
        f"""CREATE TABLE IF NOT EXISTS {keyspace}.rejects (
  stream text,
  seen_day date,
  topic text,
  partition int,
  offset bigint,
  seen_at timestamp,
  reason text,
  detail text,
  payload blob,
  PRIMARY KEY ((stream, seen_day), topic, partition, offset)
) WITH default_time_to_live = {raw_ttl_days * 86400}""",
    ]


def mysql_ddl(database: str) -> list[str]:
    return [
        f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET utf8mb4",
        # Which buckets ingest touched, and when; aggregate reads those marked after its
        # watermark through the (stream, marked_at) index, so its cost follows new data.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.dirty_buckets (
  stream VARCHAR(32) NOT NULL,
  bucket DATETIME NOT NULL,
  marked_at DATETIME(6) NOT NULL,
  PRIMARY KEY (stream, bucket),
  KEY by_mark (stream, marked_at)
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.watermarks (
  stream VARCHAR(32) NOT NULL PRIMARY KEY,
  marked_through DATETIME(6) NOT NULL,
  newest_event_time DATETIME(6) NULL,
  updated_at DATETIME(6) NOT NULL
)""",
        # Exact per-bucket partials (sums and counts) that the hourly rows are rolled up from.
        f"""CREATE TABLE IF NOT EXISTS `{database}`.tracking_partials (
  bucket DATETIME NOT NULL,
  job_id INT NOT NULL,
  publisher_id INT NOT NULL,
  campaign_id INT NOT NULL,
  group_id INT NOT NULL,
  dates DATE NOT NULL,
  hours TINYINT NOT NULL,
  clicks INT NOT NULL,
  conversion INT NOT NULL,
  qualified_application INT NOT NULL,
  disqualified_application INT NOT NULL,
  impressions INT NOT NULL,
  bid_sum DOUBLE NOT NULL,
  bid_count INT NOT NULL,
  PRIMARY KEY (bucket, job_id, publisher_id, campaign_id, group_id),
  KEY by_hour (dates, hours)
)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.events (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  job_id INT NOT NULL,
  dates DATE NOT NULL,
  hours TINYINT NOT NULL,
  disqualified_application INT NOT NULL DEFAULT 0,
  qualified_application INT NOT NULL DEFAULT 0,
  conversion INT NOT NULL DEFAULT 0,
  company_id INT NOT NULL DEFAULT 0,
  group_id INT NOT NULL DEFAULT 0,
  campaign_id INT NOT NULL DEFAULT 0,
  publisher_id INT NOT NULL DEFAULT 0,
  bid_set DOUBLE NULL,
  clicks INT NOT NULL DEFAULT 0,
  impressions INT NOT NULL DEFAULT 0,
  spend_hour DOUBLE NOT NULL DEFAULT 0,
  sources VARCHAR(32) NOT NULL DEFAULT 'tracking',
  updated_at DATETIME(6) NOT NULL,
  UNIQUE KEY natural_key (job_id, dates, hours, publisher_id, campaign_id, group_id),
  KEY by_hour (dates, hours),
  KEY by_company (company_id)
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
  budget_total DOUBLE NOT NULL, is_active TINYINT NOT NULL DEFAULT 1)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.`group` (
  id INT NOT NULL PRIMARY KEY, campaign_id INT NOT NULL, company_id INT NOT NULL,
  name VARCHAR(255) NOT NULL, budget_group DOUBLE NOT NULL)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.job (
  id INT NOT NULL PRIMARY KEY, company_id INT NOT NULL, group_id INT NULL, campaign_id INT NULL,
  title VARCHAR(255) NOT NULL, work_location VARCHAR(255) NULL, status TINYINT NOT NULL DEFAULT 1,
  updated_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP)""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.master_publisher (
  id INT NOT NULL PRIMARY KEY, publisher_name VARCHAR(255) NOT NULL, email VARCHAR(255) NULL,
  access_level TINYINT NOT NULL DEFAULT 1)""",
    ]
