"""Panel queries ask Prometheus about the moments meant, whatever the machine's time zone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from observability.dashboards import Panel
from observability.preview import shown
from observability.queries import epoch, picking, rfc3339


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_should_read_a_naive_time_as_utc_in_any_zone(far_from_utc: None) -> None:
    # MySQL's DATETIMEs and the previews' windows are naive UTC; the machine's zone must not shift them.
    assert epoch(datetime(2026, 11, 24, 6, 0)) == epoch(datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2026-11-24T06:01:43.413969353Z", 1_795_500_103.413969353),
        ("2026-11-24T07:01:43.4+01:00", 1_795_500_103.4),
        ("2026-11-24T06:01:43Z", 1_795_500_103.0),
    ],
)
def test_should_read_go_rfc3339_times(text: str, seconds: float) -> None:
    assert rfc3339(text) == pytest.approx(seconds, abs=1e-6)


def test_should_pick_installs_as_grafanas_variables_do() -> None:
    query = 'up{namespace=~"$namespace", release=~"$release"}'
    assert picking(query) == 'up{namespace=~".*", release=~".*"}'
    # A multi-value pick, regex-escaped, its backslashes doubled inside a PromQL string.
    assert picking(query, ["ns/a", "x.y"]) == 'up{namespace=~".*", release=~"(ns/a|x\\\\.y)"}'


def test_should_show_counts_whole_and_money_in_cents() -> None:
    panel = Panel("p", "table", "", ("clicks", "spend", "at"), money=("spend",))
    assert [shown(v, panel, c) for v, c in ((5254.0, "clicks"), (2591.0, "spend"), (None, "spend"))] == [
        "5,254",
        "2,591.00",
        "—",
    ]
    assert shown(datetime(2026, 12, 7, 15, 4, 59), panel, "at") == "2026-12-07 15:04"
    assert shown(0.125, Panel("r", "stat", "", ("r",), unit="percentunit")) == "12.5%"
    assert shown(35.27, Panel("s", "stat", "", ("s",), unit="s")) == "35 s"
