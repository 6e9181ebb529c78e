"""A job that starts Spark stops it when it ends, however it ends: on Kubernetes its executors
are pods that live until their driver lets them go."""

from __future__ import annotations

import argparse
from typing import Any

import pytest

import jobs.__main__ as main
from jobs.metrics import RunMetrics
from jobs.settings import JobSettings


class Spark:
    def __init__(self) -> None:
        self.stopped = 0

    def stop(self) -> None:
        self.stopped += 1


@pytest.mark.parametrize("fails", [False, True], ids=["succeeds", "fails"])
def test_should_stop_the_spark_session_when_the_job_ends(monkeypatch: pytest.MonkeyPatch, fails: bool) -> None:
    spark = Spark()
    started = []

    def session(settings: JobSettings, name: str) -> Spark:
        started.append(name)
        return spark

    monkeypatch.setattr(main, "session", session)

    def dims(settings: JobSettings, session: Any, metrics: RunMetrics) -> None:
        assert session is spark and not spark.stopped, "stopped before the job ran"
        if fails:
            raise RuntimeError("the job failed")

    monkeypatch.setattr(main.dims, "run", dims)
    args = argparse.Namespace(job="dims")
    if fails:
        with pytest.raises(RuntimeError, match="the job failed"):
            main.run_job(args, JobSettings(), [], RunMetrics(job="dims"))
    else:
        main.run_job(args, JobSettings(), [], RunMetrics(job="dims"))
    assert (started, spark.stopped) == (["dims"], 1)


def test_should_start_no_spark_for_a_job_that_needs_none(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_session(settings: JobSettings, name: str) -> None:
        raise AssertionError(f"{name} started Spark")

    monkeypatch.setattr(main, "session", no_session)
    ran = []
    monkeypatch.setattr(main.migrate, "run", lambda settings, metrics, names: ran.append(("migrate", names)))
    main.run_job(argparse.Namespace(job="migrate", stream=[]), JobSettings(), [], RunMetrics(job="migrate"))
    assert ran == [("migrate", [])]
