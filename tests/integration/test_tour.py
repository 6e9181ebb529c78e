"""The README's local tour, run as written: one batch of beacons from the producer to MySQL,
the query behind the freshness panel, and the alert a broken ingest fires."""

from __future__ import annotations

import json
import os
import re
import subprocess

from .conftest import ROOT, unique


def tour() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- tour:local -->\n```sh\n(.*?)```", readme, re.DOTALL)
    assert found, "README.md has no local tour block"
    return found.group(1)


def test_the_readme_tour_runs_as_written() -> None:
    name = unique("tour")
    # Its own topic, keyspace and database, so the tour never touches the demo's data.
    isolated = {
        "TIDEMARK_TRACKING_TOPIC": f"{name}.tracking",
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_SHOP_DATABASE": f"{name}_shop",
        "TIDEMARK_PRODUCER_METRICS_PORT": "0",
    }
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", tour()],
        cwd=ROOT,
        env={**os.environ, **isolated},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stderr
    assert "sent 200 beacons" in log
    assert re.search(r"tracking batch 0: 200 raw, 0 rejected, \d+ buckets marked", log), log[-3000:]
    assert re.search(r"tracking chunk: \d+ buckets .*, \d+ raw rows, [1-9]\d* rows upserted or deleted", log)
    assert "ingest failed, as it should" in done.stdout
    assert "tracking batch 1: 50 raw, 0 rejected" in log, "the repaired run must ingest what the failed one left"

    answers = [line for line in done.stdout.splitlines() if line.startswith("{")]
    freshness, alerts = json.loads(answers[0]), json.loads(answers[1])
    assert {r["metric"].get("stream") for r in freshness["data"]["result"]} >= {"tracking"}
    fired = [a for a in alerts["data"]["alerts"] if a["labels"]["alertname"] == "TidemarkJobFailed"]
    assert any(a["labels"].get("job") == "tidemark_ingest" for a in fired), alerts
    rows = [line for line in done.stdout.splitlines() if re.match(r"^\d+\t\d{4}-\d{2}-\d{2}\t\d+\t\d+\t", line)]
    assert rows, done.stdout
