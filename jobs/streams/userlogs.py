"""Stream `userlogs`: user sessions, authentication events and activity (DESIGN 4.4).

The wire contract is the one the log generators speak: three topics, no key, JSON values, and
a zone-less timestamp means UTC. The stream has three parts, one per topic, each with its own
raw table and hourly rollup (in the report time zone; `hour` is the hour's start):

- `userlogs_session` (`user_session_logs`): one object per session. Identity: `session_id`, a
  UUID unique per session, in every bucket: a re-sent session replaces its earlier version
  wherever it lies, even in another hour (a corrected `login_time`), the newest by Kafka
  timestamp winning (jobs/versions.py). Rolls up by login hour.
- `userlogs_auth` (`user_auth_logs`): one object per event. `success` names the event on
  success, `failure_reason` on failure, exactly one of them; a failure has a null session id,
  so the session cannot be the key. Identity: a digest of the whole record, as for ads: a
  re-sent message counts once, two events differing in any field are two.
- `userlogs_activity` (`user_activity_logs`): a JSON array of events, each its own row with
  `event_details` flattened. Identity: a digest of the whole message plus the element's index:
  a re-sent message counts once, and equal elements within one array (two identical clicks)
  stay two. A bad element is rejected alone, with its index; its siblings are kept.

`python -m jobs ingest --stream userlogs` runs all three parts, one query per topic.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from typing import Any

import orjson
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import DoubleType, IntegerType, StringType

from jobs import strict_json
from jobs.parsed import parsed_stream
from jobs.spec import (
    AggregateContext,
    GlobalIdentity,
    ParseResult,
    Reject,
    Rollup,
    StreamSpec,
    iso_instant,
)
from wire.formats import TOPICS

FAMILY = "userlogs"
BUCKET_SECONDS = 60
# A session's duration at most (s), a year: far inside the DECIMAL(20,3) each is cast to, and
# 1e19 sessions in a bucket before its DECIMAL(30,3) sum could overflow.
MAX_DURATION_SECONDS = 366 * 86_400
# The longest text each rollup keys by, in characters (its MySQL column's length). A longer one
# is a `too_long` reject at ingest, never an aggregate that fails on it.
MAX_DETAIL_CHARS = 128  # an auth event's success name or failure reason
MAX_EVENT_TYPE_CHARS = 64


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _object(payload: bytes, what: str) -> Any:
    """The message's JSON object, or a reject: not JSON, or not an object."""
    record = strict_json.load(payload)
    if isinstance(record, dict | Reject):
        return record
    return Reject("wrong_shape", f"{what} is an object, not {type(record).__name__}")


def _digest(value: Any) -> str:
    try:
        canonical = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # What orjson refuses to write (an escaped lone surrogate, an integer past 64 bits) in
        # the standard library's form: only such records digest this way, so every other
        # keeps the identity it always had.
        canonical = json.dumps(value, sort_keys=True).encode()
    return hashlib.blake2b(canonical, digest_size=16).hexdigest()


def _ids(record: dict[str, Any], session_required: bool) -> tuple[str, str | None] | Reject:
    """The record's user and session ids, checked: a UUID each, the session may be null."""
    user_id = _uuid(record.get("user_id"))
    if user_id is None:
        return Reject("bad_user_id", f"user_id={str(record.get('user_id'))[:64]}")
    session = record.get("session_id")
    session_id = _uuid(session)
    if session_id is None and (session is not None or session_required):
        return Reject("bad_session_id", f"session_id={str(session)[:64]}")
    return user_id, session_id


def _moment(record: dict[str, Any], key: str) -> Any:
    value = record.get(key)
    try:
        moment = iso_instant(value) if isinstance(value, str) else None
    except OverflowError:  # an offset that moves the time past year 9999 or before year 1
        moment = None
    return moment if moment is not None else Reject("bad_timestamp", f"{key}={str(value)[:64]}")


def _duration(value: Any) -> float | Reject | None:
    """A session's length in seconds (None when absent), or why it is not one."""
    if value is None:
        return None
    shown = f"duration={str(value)[:64]}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Reject("invalid_type", shown)
    try:
        seconds = float(value)
    except OverflowError:  # an integer of more than 308 digits
        seconds = math.inf
    if not math.isfinite(seconds):
        return Reject("non_finite_number", shown)
    if seconds < 0:
        return Reject("negative_value", shown)
    if seconds > MAX_DURATION_SECONDS:
        return Reject("out_of_range", shown)
    return seconds


def parse_session(payload: bytes) -> ParseResult:
    record = _object(payload, "a session")
    if isinstance(record, Reject):
        return record
    ids = _ids(record, session_required=True)
    if isinstance(ids, Reject):
        return ids
    login = _moment(record, "login_time")
    if isinstance(login, Reject):
        return login
    if record.get("logout_time") is not None:
        logout = _moment(record, "logout_time")
        if isinstance(logout, Reject):
            return logout
    duration = _duration(record.get("duration"))
    if isinstance(duration, Reject):
        return duration
    return [
        {
            "event_time": login,
            "session_id": ids[1],
            "user_id": ids[0],
            "login_time": record["login_time"],
            "logout_time": _text(record.get("logout_time")),
            "duration": duration,
            **{key: _text(record.get(key)) for key in ("device", "os", "browser", "location", "ip_address")},
        }
    ]


def parse_auth(payload: bytes) -> ParseResult:
    record = _object(payload, "an auth event")
    if isinstance(record, Reject):
        return record
    ids = _ids(record, session_required=False)
    if isinstance(ids, Reject):
        return ids
    moment = _moment(record, "timestamp")
    if isinstance(moment, Reject):
        return moment
    success, failure = record.get("success"), record.get("failure_reason")
    if (success is None) == (failure is None):
        return Reject("bad_outcome", f"success={success!s:.32} failure_reason={failure!s:.32}")
    detail, named = (str(success), "success") if success is not None else (str(failure), "failure_reason")
    if len(detail) > MAX_DETAIL_CHARS:
        return Reject("too_long", f"{named}: {len(detail)} characters > {MAX_DETAIL_CHARS}")
    return [
        {
            "event_time": moment,
            "event_id": _digest(record),
            "user_id": ids[0],
            "session_id": ids[1],
            "timestamp_text": record["timestamp"],
            "ip_address": _text(record.get("ip_address")),
            "device": _text(record.get("device")),
            "outcome": "success" if success is not None else "failure",
            "outcome_detail": detail,
        }
    ]


ACTIVITY_TEXT = ("event_type", "url", "device", "location", "event_category")


def _activity_row(element: Any, index: int, message_id: str) -> dict[str, Any] | Reject:
    if not isinstance(element, dict):
        return Reject("wrong_shape", f"an activity event is an object, not {type(element).__name__}")
    ids = _ids(element, session_required=False)
    if isinstance(ids, Reject):
        return ids
    moment = _moment(element, "timestamp")
    if isinstance(moment, Reject):
        return moment
    details = element.get("event_details") or {}
    if not isinstance(details, dict):
        return Reject("wrong_shape", "event_details is not an object")
    event_type = _text(element.get("event_type")) or ""
    if len(event_type) > MAX_EVENT_TYPE_CHARS:
        return Reject("too_long", f"event_type: {len(event_type)} characters > {MAX_EVENT_TYPE_CHARS}")
    return {
        "event_time": moment,
        "event_id": f"{message_id}:{index}",
        "event_index": index,
        "user_id": ids[0],
        "session_id": ids[1],
        "timestamp_text": element["timestamp"],
        **{key: _text(element.get(key)) for key in ACTIVITY_TEXT},
        **{key: _text(details.get(key)) for key in ("page_id", "content_id", "action_taken")},
    }


def parse_activity(payload: bytes) -> ParseResult:
    """Every element of the array, each a row or a reject of its own (an empty array is valid)."""
    events = strict_json.load(payload)
    if isinstance(events, Reject):
        return events
    if not isinstance(events, list):
        return Reject("wrong_shape", f"an activity message is an array, not {type(events).__name__}")
    message_id = _digest(events)
    return [_activity_row(element, i, message_id) for i, element in enumerate(events)]


TEXT = StringType()
SESSION_FIELDS = (
    ("session_id", TEXT),
    ("user_id", TEXT),
    ("login_time", TEXT),
    ("logout_time", TEXT),
    ("duration", DoubleType()),
    ("device", TEXT),
    ("os", TEXT),
    ("browser", TEXT),
    ("location", TEXT),
    ("ip_address", TEXT),
)
AUTH_FIELDS = (
    ("event_id", TEXT),
    ("user_id", TEXT),
    ("session_id", TEXT),
    ("timestamp_text", TEXT),
    ("ip_address", TEXT),
    ("device", TEXT),
    ("outcome", TEXT),
    ("outcome_detail", TEXT),  # the success event's name or the failure reason
)
ACTIVITY_FIELDS = (
    ("event_id", TEXT),
    ("event_index", IntegerType()),
    ("user_id", TEXT),
    ("session_id", TEXT),
    ("timestamp_text", TEXT),
    *((key, TEXT) for key in ACTIVITY_TEXT),
    ("page_id", TEXT),
    ("content_id", TEXT),
    ("action_taken", TEXT),
)


def with_hour(raw: DataFrame, context: AggregateContext) -> DataFrame:
    """Raw rows with `hour`: the start of their bucket's hour in the report time zone."""
    return raw.join(context.report_hours.select("bucket", "hour"), "bucket")


def session_partials(raw: DataFrame, context: AggregateContext) -> DataFrame:
    return (
        with_hour(raw, context)
        .groupBy("bucket", "hour")
        .agg(
            F.count(F.lit(1)).cast("int").alias("sessions"),
            F.coalesce(F.sum(F.col("duration").cast("decimal(20,3)")), F.lit(0))
            .cast("decimal(30,3)")
            .alias("duration"),
            F.count("duration").cast("int").alias("durations"),
        )
    )


def auth_partials(raw: DataFrame, context: AggregateContext) -> DataFrame:
    return (
        with_hour(raw, context)
        .groupBy("bucket", "hour", "outcome", F.col("outcome_detail").alias("detail"))
        .agg(F.count(F.lit(1)).cast("int").alias("events"))
    )


def activity_partials(raw: DataFrame, context: AggregateContext) -> DataFrame:
    return (
        with_hour(raw, context)
        .groupBy("bucket", "hour", F.coalesce("event_type", F.lit("")).alias("event_type"))
        .agg(F.count(F.lit(1)).cast("int").alias("events"))
    )


def session_mysql_ddl(database: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS `{database}`.user_session_partials (
  bucket DATETIME NOT NULL, hour DATETIME NOT NULL, sessions INT NOT NULL,
  duration DECIMAL(30,3) NOT NULL, durations INT NOT NULL,
  PRIMARY KEY (bucket, hour), KEY by_hour (hour))""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.user_sessions_hourly (
  hour DATETIME NOT NULL PRIMARY KEY, sessions INT NOT NULL,
  avg_duration_seconds DECIMAL(30,3) NULL, updated_at DATETIME(6) NOT NULL)""",
    ]


def auth_mysql_ddl(database: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS `{database}`.user_auth_partials (
  bucket DATETIME NOT NULL, hour DATETIME NOT NULL, outcome VARCHAR(16) NOT NULL,
  detail VARCHAR({MAX_DETAIL_CHARS}) NOT NULL, events INT NOT NULL,
  PRIMARY KEY (bucket, hour, outcome, detail), KEY by_hour (hour))""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.user_auth_hourly (
  hour DATETIME NOT NULL, outcome VARCHAR(16) NOT NULL, detail VARCHAR({MAX_DETAIL_CHARS}) NOT NULL,
  events INT NOT NULL, updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (hour, outcome, detail))""",
    ]


def activity_mysql_ddl(database: str) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS `{database}`.user_activity_partials (
  bucket DATETIME NOT NULL, hour DATETIME NOT NULL, event_type VARCHAR({MAX_EVENT_TYPE_CHARS}) NOT NULL,
  events INT NOT NULL,
  PRIMARY KEY (bucket, hour, event_type), KEY by_hour (hour))""",
        f"""CREATE TABLE IF NOT EXISTS `{database}`.user_activity_hourly (
  hour DATETIME NOT NULL, event_type VARCHAR({MAX_EVENT_TYPE_CHARS}) NOT NULL, events INT NOT NULL,
  updated_at DATETIME(6) NOT NULL,
  PRIMARY KEY (hour, event_type))""",
    ]


SESSIONS_BY_HOUR = """
INSERT INTO user_sessions_hourly (hour, sessions, avg_duration_seconds, updated_at)
SELECT hour, SUM(sessions), IF(SUM(durations) > 0, SUM(duration) / SUM(durations), NULL), NOW(6)
FROM user_session_partials WHERE (hour) IN ({periods}) GROUP BY hour
ON DUPLICATE KEY UPDATE
  updated_at = IF(sessions <=> VALUES(sessions) AND avg_duration_seconds <=> VALUES(avg_duration_seconds),
                  updated_at, VALUES(updated_at)),
  sessions = VALUES(sessions), avg_duration_seconds = VALUES(avg_duration_seconds)
"""

AUTH_BY_HOUR = """
INSERT INTO user_auth_hourly (hour, outcome, detail, events, updated_at)
SELECT hour, outcome, detail, SUM(events), NOW(6)
FROM user_auth_partials WHERE (hour) IN ({periods}) GROUP BY hour, outcome, detail
ON DUPLICATE KEY UPDATE updated_at = IF(events <=> VALUES(events), updated_at, VALUES(updated_at)),
  events = VALUES(events)
"""

ACTIVITY_BY_HOUR = """
INSERT INTO user_activity_hourly (hour, event_type, events, updated_at)
SELECT hour, event_type, SUM(events), NOW(6)
FROM user_activity_partials WHERE (hour) IN ({periods}) GROUP BY hour, event_type
ON DUPLICATE KEY UPDATE updated_at = IF(events <=> VALUES(events), updated_at, VALUES(updated_at)),
  events = VALUES(events)
"""


def part(
    suffix: str,
    *,
    fields: tuple[tuple[str, Any], ...],
    identity: str,
    parse: Any,
    partials: Any,
    aggregate_columns: tuple[str, ...],
    mysql_ddl: Any,
    rollup: Rollup,
    global_identity: GlobalIdentity | None = None,
) -> StreamSpec:
    """One part of the family: topic `user_<suffix>_logs`, raw table `user_<suffix>_raw`."""
    return parsed_stream(
        name=f"{FAMILY}_{suffix}",
        family=FAMILY,
        topics=(TOPICS[f"{FAMILY}_{suffix}"],),
        bucket_seconds=BUCKET_SECONDS,
        raw_table=f"user_{suffix}_raw",
        fields=fields,
        identity=(identity,),
        parse=parse,
        mysql_ddl=mysql_ddl,
        partials=partials,
        aggregate_columns=aggregate_columns,
        rollup=rollup,
        global_identity=global_identity,
    )


PARTS = (
    part(
        "session",
        fields=SESSION_FIELDS,
        identity="session_id",
        parse=parse_session,
        partials=session_partials,
        aggregate_columns=("duration",),
        mysql_ddl=session_mysql_ddl,
        rollup=Rollup(
            table="user_sessions_hourly",
            partials_table="user_session_partials",
            partial_columns=("bucket", "hour", "sessions", "duration", "durations"),
            key=(),
            period=("hour",),
            upsert=SESSIONS_BY_HOUR,
        ),
        global_identity=GlobalIdentity("session_id", "text"),
    ),
    part(
        "auth",
        fields=AUTH_FIELDS,
        identity="event_id",
        parse=parse_auth,
        partials=auth_partials,
        aggregate_columns=("outcome", "outcome_detail"),
        mysql_ddl=auth_mysql_ddl,
        rollup=Rollup(
            table="user_auth_hourly",
            partials_table="user_auth_partials",
            partial_columns=("bucket", "hour", "outcome", "detail", "events"),
            key=("outcome", "detail"),
            period=("hour",),
            upsert=AUTH_BY_HOUR,
        ),
    ),
    part(
        "activity",
        fields=ACTIVITY_FIELDS,
        identity="event_id",
        parse=parse_activity,
        partials=activity_partials,
        aggregate_columns=("event_type",),
        mysql_ddl=activity_mysql_ddl,
        rollup=Rollup(
            table="user_activity_hourly",
            partials_table="user_activity_partials",
            partial_columns=("bucket", "hour", "event_type", "events"),
            key=("event_type",),
            period=("hour",),
            upsert=ACTIVITY_BY_HOUR,
        ),
    ),
)
