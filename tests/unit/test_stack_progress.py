"""`make stack-up` says how far a long download got instead of going quiet."""

from __future__ import annotations

import pytest

from local import stack


def test_should_report_progress_while_a_download_runs(capsys: pytest.CaptureFixture[str]) -> None:
    done = stack.downloading(["sh", "-c", "sleep 0.5; echo fetched"], "spark jars", 83, every_s=0.2)
    assert (done.returncode, done.stdout.strip()) == (0, "fetched")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 2
    assert all(line.startswith("  spark jars: ") and " of ~83 MB, " in line for line in lines)
