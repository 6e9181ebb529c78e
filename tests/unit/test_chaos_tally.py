"""The chaos tier's verdict: lost and double-counted events per aggregate key against the oracle."""

from __future__ import annotations

from local.chaos_jobs import kill_offset
from local.chaos_verdict import Tally, tally


def test_should_find_nothing_wrong_when_every_key_matches() -> None:
    assert tally({"a": 3, "b": 1}, {"a": 3, "b": 1}) == Tally(expected=4, counted=4, lost=0, double_counted=0)


def test_should_count_a_missing_key_as_lost_and_an_unexpected_one_as_double() -> None:
    assert tally({"a": 2, "b": 5}, {"a": 2, "c": 1}) == Tally(expected=7, counted=3, lost=5, double_counted=1)


def test_should_count_an_event_moved_to_another_key_in_both() -> None:
    # The totals agree, yet one event left "a" and landed on "b": lost once and counted twice once.
    assert tally({"a": 3, "b": 3}, {"a": 2, "b": 4}) == Tally(expected=6, counted=6, lost=1, double_counted=1)


def test_should_count_an_event_twice_over_on_a_key_that_holds_it_three_times() -> None:
    assert tally({"a": 1}, {"a": 3}) == Tally(expected=1, counted=3, lost=0, double_counted=2)


def test_should_turn_window_memberships_into_events() -> None:
    # Every ad event sits in two sliding windows: a lost event is short on both.
    expected = {("ad", 0): 2, ("ad", 30): 3, ("ad", 60): 1}
    counted = {("ad", 0): 1, ("ad", 30): 2, ("ad", 60): 1}
    assert tally(expected, counted, per_event=2) == Tally(expected=3, counted=2, lost=1, double_counted=0)


def test_should_accept_empty_sides() -> None:
    assert tally({}, {}) == Tally(0, 0, 0, 0)
    assert tally({"a": 1}, {}) == Tally(expected=1, counted=0, lost=1, double_counted=0)


def test_should_kill_a_job_at_the_seeds_offset_before_any_run_ended() -> None:
    assert kill_offset(14.0, []) == 14.0


def test_should_kill_a_job_within_the_shortest_run_seen() -> None:
    # Runs of 9 s and 12 s would never reach the seed's 14 s: kill 60% into the shortest.
    assert kill_offset(14.0, [12.0, 9.0]) == 0.6 * 9.0
    assert kill_offset(4.0, [12.0, 9.0]) == 4.0
