"""Generated artefacts have one source each: regenerating them changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "observability.dashboards", "--check"],
        ["scripts/image_requirements.py", "--check"],
        ["scripts/values_schema.py", "--check"],
    ],
    ids=["dashboards", "image-requirements", "values-schema"],
)
def test_should_be_up_to_date_with_its_source(command: list[str]) -> None:
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_should_notice_a_stale_dashboard(tmp_path: Path) -> None:
    from observability import dashboards

    # A copy of the dashboards with one edited by hand: the committed files are never touched.
    files = dashboards.rendered(tmp_path)
    for path, text in files.items():
        path.write_text(text)
    assert dashboards.stale_files(tmp_path) == []
    edited = next(iter(files))
    edited.write_text(files[edited].replace("Clicks", "Klicks", 1))
    assert dashboards.stale_files(tmp_path) == [edited]
