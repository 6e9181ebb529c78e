"""The example stream's pure parse, and the registry it joins only when named."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest
from pyspark.sql.types import StringType

from examples.streams import pageviews
from jobs.parsed import parsed_stream
from jobs.spec import Reject
from tests.conftest import ROOT


def test_a_view_is_its_page_user_and_utc_instant_to_the_millisecond() -> None:
    got = pageviews.parse(b'{"page": "/jobs", "user": "ana", "ts": "2026-12-06T10:15:30.123456+01:00"}')
    assert got == [{"event_time": datetime(2026, 12, 6, 9, 15, 30, 123000), "page": "/jobs", "user": "ana"}]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"page": "/", "user": "u", "ts": "2026-12-06T10:00:00"}', "bad_timestamp"),
        (b'{"page": "/", "user": "u", "ts": 1765015200}', "bad_timestamp"),
        (b'{"page": "/", "user": "u", "ts": "2026-02-30T10:00:00Z"}', "bad_timestamp"),
        (b'{"page": "/", "user": "u"}', "bad_timestamp"),
        (b'{"page": null, "user": "u", "ts": "2026-12-06T10:00:00Z"}', "bad_page"),
        (b'{"page": "/", "user": "", "ts": "2026-12-06T10:00:00Z"}', "bad_user"),
        (b'{"page": "\\ud800", "user": "u", "ts": "2026-12-06T10:00:00Z"}', "bad_page"),
        (b'{"page": "/", "page": "/b", "user": "u", "ts": "2026-12-06T10:00:00Z"}', "bad_json"),
        (b'"a string"', "wrong_shape"),
        (b'{"page": "/a ", "user": "u", "ts": "2026-12-06T10:00:00Z"}', "bad_page"),
    ],
)
def test_anything_else_is_a_reject_naming_why(payload: bytes, reason: str) -> None:
    got = pageviews.parse(payload)
    assert isinstance(got, Reject) and got.reason == reason, got


def test_a_page_past_the_key_width_is_too_long() -> None:
    got = pageviews.parse(b'{"page": "/' + b"x" * 255 + b'", "user": "u", "ts": "2026-12-06T10:00:00Z"}')
    assert got == Reject("too_long", "page: 256 characters > 255")


def test_its_raw_table_is_keyed_by_its_identity() -> None:
    (ddl,) = pageviews.STREAM.cassandra_ddl("ks", 86_400)
    assert "PRIMARY KEY ((bucket, shard), user, event_time, page)" in ddl
    assert pageviews.STREAM.raw_columns == ("bucket", "shard", "event_time", "page", "user")


def test_a_parsed_stream_refuses_an_identity_that_names_no_field() -> None:
    spec = pageviews.STREAM
    with pytest.raises(ValueError, match=r"identity \['session'\] names no field"):
        parsed_stream(
            **{k: getattr(spec, k) for k in ("name", "topics", "bucket_seconds", "raw_table", "partials", "rollup")},
            mysql_ddl=pageviews.mysql_ddl,
            fields=(("page", StringType()),),
            identity=("session",),
            parse=pageviews.parse,
        )
    assert spec.parse is pageviews.parse, "the spec carries the parse its classify runs"


def test_the_jobs_know_it_only_when_named() -> None:
    env = {**os.environ, "TIDEMARK_EXTRA_STREAMS": "examples.streams.pageviews"}
    shown = subprocess.run(
        [sys.executable, "-m", "jobs", "ingest", "--help"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert shown.returncode == 0, shown.stderr
    assert "TIDEMARK_PAGEVIEWS_TOPIC" in shown.stdout and "default 'pageviews'" in shown.stdout
    assert "pageviews" in shown.stdout.split("--stream")[1]
    plain = subprocess.run(
        [sys.executable, "-m", "jobs", "ingest", "--help"],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "TIDEMARK_EXTRA_STREAMS"},
        capture_output=True,
        text=True,
    )
    assert "pageviews" not in plain.stdout
