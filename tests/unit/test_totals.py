"""The statements that keep a rollup's totals, and reading the catalog they are built from."""

from __future__ import annotations

from jobs.streams import STREAMS
from jobs.totals import text, totals_statement


def test_should_take_away_and_add_every_sum_and_count_the_partials() -> None:
    rollup = STREAMS["tracking"].rollup
    away = totals_statement(rollup, "(%s)", "-")
    assert "-SUM(bid_sum)" in away and "-COUNT(*)" in away
    assert all(f"tracking_totals.{c} = tracking_totals.{c} + VALUES({c})" in away for c in (*rollup.sums, "parts"))
    assert "GROUP BY dates, hours, job_id, publisher_id, campaign_id, group_id" in away
    assert "+SUM(clicks)" in totals_statement(rollup, "(%s)", "+")


def test_should_read_catalog_values_mysql_hands_as_bytes() -> None:
    # MySQL 8's information_schema gives column_type as bytes through the C extension; a CREATE
    # TABLE written with "bytearray(b'int')" for a type would fail on the chart's MySQL only.
    assert [text(bytearray(b"int")), text(b"YES"), text("decimal(24,6)")] == ["int", "YES", "decimal(24,6)"]
