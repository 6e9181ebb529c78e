"""The test loop says where its time goes: each tier's seconds at the end of a run."""

from __future__ import annotations

import shutil
import subprocess
import sys
import uuid

from tests.conftest import ROOT, TIERS


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


def test_should_refuse_a_test_folder_no_tier_selects() -> None:
    folder = ROOT / "tests" / f"probe_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    try:
        (folder / "test_probe.py").write_text("def test_probe() -> None:\n    pass\n")
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q", str(folder)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(folder)
    assert done.returncode != 0
    assert "tests outside a tier folder (tests/unit/, tests/chart/, " in done.stderr + done.stdout
    assert f"tests/{folder.name}/test_probe.py" in done.stderr + done.stdout


def test_should_run_every_tier_folder_in_make_test() -> None:
    done = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    run = [line for line in done.stdout.splitlines() if "-m pytest" in line]
    assert run == [".venv/bin/python -m pytest tests --durations=25"], run
    tiers = {path.name for path in (ROOT / "tests").iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    assert tiers <= set(TIERS), f"folders of tests/ that are no tier: {tiers - set(TIERS)}"
