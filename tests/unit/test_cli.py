"""Every command answers --help with its usage and settings and touches nothing; an unknown
argument is an error that names it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

COMMANDS = [
    ["producer"],
    ["producer", "load-customers"],
    ["jobs"],
    *[["jobs", job] for job in ("migrate", "ingest", "aggregate", "dims", "backfill", "replay-rejects")],
]
# Nothing listens here: a command that tried to start would hang or fail, not print help.
NOWHERE = {"TIDEMARK_KAFKA_BOOTSTRAP": "127.0.0.1:9", "TIDEMARK_MYSQL_PORT": "9", "TIDEMARK_CASSANDRA_PORT": "9"}


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv],
        cwd=ROOT,
        env={**os.environ, **NOWHERE},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_should_print_usage_and_settings_and_exit_0(command: list[str]) -> None:
    done = run(*command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m " + " ".join(command)), done.stdout[:200]
    if command != ["producer", "load-customers"]:
        assert "TIDEMARK_KAFKA_BOOTSTRAP" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["producer"], ["jobs", "ingest"], ["jobs", "migrate"]], ids=" ".join)
def test_should_name_an_unknown_argument(command: list[str]) -> None:
    done = run(*command, "--frobnicate")
    assert done.returncode == 2
    assert "--frobnicate" in done.stderr


def test_should_name_an_unknown_stream() -> None:
    done = run("jobs", "aggregate", "--stream", "clicks")
    assert done.returncode == 2
    assert "'clicks'" in done.stderr
