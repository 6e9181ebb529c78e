"""The test loop says where its time goes: each tier's seconds at the end of a run."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_should_print_the_time_each_tier_took() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "unit", "-p", "no:cacheprovider", "tests/unit/test_buckets.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert "time per tier" in done.stdout
    lines = [line for line in done.stdout.splitlines() if line.startswith("tier ")]
    assert [line.split()[1] for line in lines] == ["unit"], lines


def test_should_offer_a_fast_loop_of_unit_and_chart_tests() -> None:
    done = subprocess.run(["make", "-n", "test-fast"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert '-m "unit or chart"' in done.stdout
