"""What the continuous driver's Spark did over the sampled window: the jobs it ran, read from
its UI's REST API (`/api/v1`), per second and per query, with the seconds they took. A cycle's
fixed cost on a loaded driver is mostly its Spark jobs, so this is where a cycle's count shows."""

from __future__ import annotations

import json
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any


def completed_jobs(port: int) -> list[dict[str, Any]]:
    """The driver's finished jobs (Spark keeps the last spark.ui.retainedJobs, 1,000)."""
    base = f"http://127.0.0.1:{port}/api/v1/applications"
    with urllib.request.urlopen(base, timeout=10) as answer:
        app = json.load(answer)[0]["id"]
    with urllib.request.urlopen(f"{base}/{app}/jobs?status=succeeded&status=failed", timeout=30) as answer:
        jobs: list[dict[str, Any]] = json.load(answer)
    return jobs


def when(stamp: str) -> float:
    return datetime.strptime(stamp.replace("GMT", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def query_of(job: dict[str, Any]) -> str:
    """The streaming query a job ran for: its description's first line names it."""
    first = (job.get("description") or "").split("\n", 1)[0].strip()
    return first or "(none)"


def summary(jobs: list[dict[str, Any]], start: float, end: float) -> dict[str, Any]:
    """The jobs that ended within [start, end]: their count per second, and per query their
    count and the seconds they ran (jobs overlap, so seconds may add up past the window)."""
    window = [j for j in jobs if "completionTime" in j and start <= when(j["completionTime"]) <= end]
    count: Counter[str] = Counter()
    seconds: defaultdict[str, float] = defaultdict(float)
    for job in window:
        query = query_of(job)
        count[query] += 1
        seconds[query] += when(job["completionTime"]) - when(job["submissionTime"])
    span = max(end - start, 1e-9)
    return {
        "jobs_per_second": round(len(window) / span, 2),
        "by_query": {q: {"jobs": count[q], "job_seconds": round(seconds[q], 1)} for q in sorted(count)},
        "by_callsite": dict(Counter(j.get("name", "") for j in window).most_common(15)),
    }
