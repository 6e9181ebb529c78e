"""Page views: a whole stream in one file, loaded with
TIDEMARK_EXTRA_STREAMS=examples.streams.pageviews (docs/adding-a-stream.md walks through it).

Wire contract: topic `pageviews` (TIDEMARK_PAGEVIEWS_TOPIC), each message one JSON object
`{"page": str, "user": str, "ts": ISO-8601 with a zone}`. An event is identified by
(user, ts, page), ts to the millisecond a raw table keeps: the same view sent twice, or its
time written in another zone, counts once. Output: `pageviews_hourly(hour, page, views)` in
the jobs' MySQL database, `hour` the UTC hour. Anything else is a reject naming why.
"""

from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobs import strict_json
from jobs.parsed import parsed_stream
from jobs.spec import ISO_TIME, AggregateContext, ParseResult, Reject, Rollup, iso_instant

MAX_CHARS = 255  # a page or user longer than this is a reject: MySQL keys the page in VARCHAR(255)


def _text(record: dict[str, Any], key: str) -> str | Reject:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        return Reject(f"bad_{key}", f"{key} is a non-empty string, not {str(value)[:64]}")
    if len(value) > MAX_CHARS:
        return Reject("too_long", f"{key}: {len(value)} characters > {MAX_CHARS}")
    if value.endswith(" "):
        # MySQL's binary collations pad: `/a` and `/a ` would be one key of the rollup's tables
        # while Spark counts them apart, and every aggregate of their bucket would fail.
        return Reject(f"bad_{key}", f"{key} ends with a space")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate escaped in the JSON: no store can hold it
        return Reject(f"bad_{key}", f"{key} is not valid Unicode")
    return value


def parse(payload: bytes) -> ParseResult:
    """One message: a row for the view it records, or the reject saying why it records none."""
    record = strict_json.load(payload)
    if isinstance(record, Reject):
        return record
    if not isinstance(record, dict):
        return Reject("wrong_shape", f"a page view is an object, not {type(record).__name__}")
    page, user = _text(record, "page"), _text(record, "user")
    if isinstance(page, Reject):
        return page
    if isinstance(user, Reject):
        return user
    ts = record.get("ts")
    zoned = isinstance(ts, str) and (match := ISO_TIME.match(ts.strip())) is not None and match.group(8)
    moment = iso_instant(ts) if zoned and isinstance(ts, str) else None
    if moment is None:
        return Reject("bad_timestamp", f"ts is ISO-8601 with a zone, not {str(ts)[:64]}")
    # To the millisecond, as the raw table keeps it: two views apart by less are one view.
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return [{"event_time": moment, "page": page, "user": user}]


def partials(raw: DataFrame, context: AggregateContext) -> DataFrame:
    """Views per bucket and page, with the UTC hour each rolls up into."""
    return raw.groupBy("bucket", F.date_trunc("hour", "bucket").alias("hour"), "page").agg(
        F.count(F.lit(1)).cast("int").alias("views")
    )


def mysql_ddl(database: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS `{database}`.pageviews_partials (
  bucket DATETIME NOT NULL, hour DATETIME NOT NULL, page VARCHAR({MAX_CHARS}) NOT NULL, views INT NOT NULL,
  PRIMARY KEY (bucket, hour, page), KEY by_hour (hour))""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.pageviews_hourly (
  hour DATETIME NOT NULL, page VARCHAR({MAX_CHARS}) NOT NULL, views INT NOT NULL, updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (hour, page))""",
    ]


# Every hour a chunk touched, rolled up again from its buckets' partials.
VIEWS_BY_HOUR = """
INSERT INTO pageviews_hourly (hour, page, views, updated_at)
SELECT hour, page, SUM(views), NOW(6) FROM pageviews_partials WHERE (hour) IN ({periods}) GROUP BY hour, page
ON DUPLICATE KEY UPDATE updated_at = IF(views <=> VALUES(views), updated_at, VALUES(updated_at)),
  views = VALUES(views)
"""

STREAM = parsed_stream(
    name="pageviews",
    topics=("pageviews",),
    bucket_seconds=60,
    raw_table="pageviews_raw",
    fields=(("page", StringType()), ("user", StringType())),
    identity=("user", "event_time", "page"),
    parse=parse,
    partials=partials,
    aggregate_columns=("page",),
    mysql_ddl=mysql_ddl,
    rollup=Rollup(
        table="pageviews_hourly",
        partials_table="pageviews_partials",
        partial_columns=("bucket", "hour", "page", "views"),
        key=("page",),
        period=("hour",),
        upsert=VIEWS_BY_HOUR,
    ),
)
