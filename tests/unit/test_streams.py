"""The stream registry: every spec is checked when listed, and each stream's settings and
chart values exist on both sides of the contract."""

from __future__ import annotations

import functools
from dataclasses import replace

import pytest
import yaml

from jobs.parsed import raw_table_ddl
from jobs.settings import JobSettings
from jobs.spec import index
from jobs.streams import FAMILIES, STREAMS, configured, extra_streams, registry, stream_variables
from jobs.streams.ads import STREAM as ADS
from jobs.streams.tracking import STREAM as TRACKING
from tests.conftest import ROOT


def test_should_refuse_two_streams_with_one_name_or_topic() -> None:
    with pytest.raises(ValueError, match="name tracking is already"):
        index(TRACKING, replace(ADS, name="tracking"))
    with pytest.raises(ValueError, match=r"topic tidemark\.tracking is already stream 'tracking'"):
        index(TRACKING, replace(ADS, topics=("tidemark.tracking",)))


def test_should_refuse_a_bucket_that_does_not_divide_an_hour() -> None:
    with pytest.raises(ValueError, match="bucket_seconds"):
        index(replace(ADS, bucket_seconds=7))


def test_should_refuse_aggregate_columns_the_raw_table_lacks() -> None:
    with pytest.raises(ValueError, match=r"aggregate_columns \['clicked'\] are not raw columns"):
        index(replace(ADS, aggregate_columns=("ad_id", "clicked")))


def test_should_refuse_a_stream_without_its_pure_parse() -> None:
    with pytest.raises(ValueError, match="'tracking': declare its pure parse"):
        index(replace(TRACKING, parse=None))


def test_should_refuse_a_kind_without_the_values_it_gives() -> None:
    # Ingest counts each declared kind as the raw pass reads the batch: an undeclared one
    # would go uncounted.
    with pytest.raises(ValueError, match="kind and kinds"):
        index(replace(TRACKING, kinds=()))
    with pytest.raises(ValueError, match="kind and kinds"):
        index(replace(ADS, kinds=("x",)))


@pytest.mark.parametrize("stream", list(FAMILIES))
def test_should_have_its_settings_and_chart_values(stream: str) -> None:
    defaults = dict(stream_variables())
    assert defaults[f"{stream}_enabled"] is True
    assert f"{stream}_retention_days" in defaults
    values = yaml.safe_load((ROOT / "charts" / "tidemark" / "values.yaml").read_text())["streams"][stream]
    assert values["enabled"] is True
    for part in FAMILIES[stream]:
        chart = values["topics"][part.removeprefix(f"{stream}_")] if "topics" in values else values["topic"]
        assert chart == defaults[f"{part}_topic"] == JobSettings().topics[part] == STREAMS[part].topics[0]


def test_should_run_the_enabled_streams_on_their_configured_topics() -> None:
    settings = JobSettings(ads_enabled=False, userlogs_enabled=False, tracking_topic="a, b")
    runs = [(s.name, s.topics) for s in configured(settings)]
    assert runs == [("tracking", ("a", "b")), ("orders", ("orderstopicdemo",))]
    parts = [s.name for s in configured(settings, ["userlogs"])]
    assert parts == ["userlogs_session", "userlogs_auth", "userlogs_activity"], "a family runs all its parts"
    assert [s.name for s in configured(settings, ["ads"])] == ["ads"], "a named stream runs even when disabled"


def test_should_stop_naming_the_setting_when_an_extra_stream_does_not_load() -> None:
    with pytest.raises(SystemExit, match=r"TIDEMARK_EXTRA_STREAMS: cannot import examples\.streams\.nowhere"):
        extra_streams("examples.streams.nowhere")
    with pytest.raises(SystemExit, match=r"TIDEMARK_EXTRA_STREAMS: json has no STREAM or STREAMS"):
        extra_streams(" json ,")
    assert extra_streams(" , ") == ()


def test_should_refuse_an_extra_stream_that_would_clash_naming_the_setting() -> None:
    from examples.streams.pageviews import STREAM as PAGEVIEWS

    assert "pageviews" in registry((PAGEVIEWS,))
    with pytest.raises(SystemExit, match=r"TIDEMARK_EXTRA_STREAMS: .*topic ad_topic is already stream 'ads'"):
        registry((replace(PAGEVIEWS, topics=("ad_topic",)),))
    with pytest.raises(SystemExit, match="would join the built-in family 'userlogs'"):
        registry((replace(PAGEVIEWS, name="userlogs"),))
    with pytest.raises(SystemExit, match=r"would share settings \['cdc_job_topic'\] with the engine"):
        registry((replace(PAGEVIEWS, name="cdc_job"),))


@pytest.mark.parametrize("stream", sorted(STREAMS))
def test_should_derive_its_raw_table_from_its_raw_columns(stream: str) -> None:
    # One declaration: the raw table a spec creates is the one its fields and identity give,
    # never a CREATE TABLE written beside them that could drift from what ingest writes.
    spec = STREAMS[stream]
    ddl = spec.cassandra_ddl
    assert isinstance(ddl, functools.partial) and ddl.func is raw_table_ddl, f"{stream} writes its raw DDL by hand"
    (statement,) = ddl("ks", 60)
    body = statement[statement.index("(") + 1 : statement.index("PRIMARY KEY")]
    columns = tuple(line.split()[0] for line in body.splitlines() if line.strip())
    assert columns == spec.raw_columns


def test_should_refuse_totals_the_upsert_does_not_read() -> None:
    # An upsert that still reads the partials would never see the totals.
    rollup = TRACKING.rollup
    assert rollup.sums == (
        "clicks",
        "conversion",
        "qualified_application",
        "disqualified_application",
        "impressions",
        "bid_sum",
        "bid_count",
    )
    with pytest.raises(ValueError, match=r"reads them as \{source\}"):
        index(replace(TRACKING, rollup=replace(rollup, upsert=rollup.upsert.replace("{source}", "tracking_partials"))))
