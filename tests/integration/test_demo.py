"""`make demo` as a new user runs it: every stream end to end on the local stack, then every
shipped panel's query, each of which must show data: none needs more than the demo's run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from jobs.settings import LOCAL_RELEASE
from local import stack
from observability.dashboards import DASHBOARDS
from observability.preview import previews

from .conftest import PROMETHEUS_URL, PUSHGATEWAY, ROOT


def test_every_panel_shows_the_demos_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local.demo"],
        cwd=ROOT,
        env={**os.environ, "DEMO_SECONDS": "20"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    # The producers' logs say what they sent, not what a Kafka client library did.
    logs = sorted((stack.STACK / "logs").glob("demo-producer*.log"))
    assert logs
    for log in logs:
        assert not re.search(r"^\S+ \S+ \w+ kafka\.", log.read_text(), re.M), log

    conn = stack.mariadb_connect(stack.GRAFANA_USER, stack.GRAFANA_PASSWORD, "analytics")
    try:
        shown = previews(tmp_path, conn, PROMETHEUS_URL, PUSHGATEWAY, [LOCAL_RELEASE])
    finally:
        conn.close()
    assert len(shown) == len(DASHBOARDS)
    for preview in shown:
        assert not preview.empty, f"{preview.path.name}: no data in {preview.empty}"
