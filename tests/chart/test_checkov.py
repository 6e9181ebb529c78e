"""checkov, a scanner that owes the chart nothing, over what it renders: every Kubernetes check
passes for the default values and for every ci/ scenario. A check that does not fit a case is
skipped in the template, with checkov's annotation and the reason (tidemark.checkovSkips)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helm_template import CHART, ROOT, render_chart

CHECKOV = ROOT / "bin" / "checkov"  # pinned, in a virtualenv of its own (scripts/install-tools.sh)
RENDERS = {"default": [], **{p.stem: [p] for p in sorted((CHART / "ci").glob("*.yaml"))}}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over every render, each in a file named after its scenario."""
    if not CHECKOV.exists():
        pytest.fail("bin/checkov is missing: run `make tools`")
    renders = tmp_path_factory.mktemp("renders")
    for name, values_files in RENDERS.items():
        docs = render_chart(values_files=values_files)
        (renders / f"{name}.yaml").write_text(yaml.safe_dump_all(docs))
    done = subprocess.run(
        [str(CHECKOV), "-d", str(renders), "--framework", "kubernetes", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = json.loads(done.stdout)
    return found if isinstance(found, dict) else found[0]


def checks(report: dict[str, Any], outcome: str, render: str) -> Iterator[dict[str, Any]]:
    for check in report["results"][f"{outcome}_checks"]:
        if Path(check["file_path"]).stem == render:
            yield check


@pytest.mark.parametrize("render", RENDERS)
def test_should_pass_every_kubernetes_check(report: dict[str, Any], render: str) -> None:
    assert [f"{c['check_id']} {c['resource']}" for c in checks(report, "failed", render)] == []
    assert list(checks(report, "passed", render)), "checkov checked nothing: the render did not reach it"


@pytest.mark.parametrize("render", RENDERS)
def test_should_say_why_each_check_it_skips_does_not_fit(report: dict[str, Any], render: str) -> None:
    for check in checks(report, "skipped", render):
        assert len(check["check_result"].get("suppress_comment", "")) > 20, (check["check_id"], check["resource"])
