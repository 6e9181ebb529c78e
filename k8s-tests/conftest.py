"""Live-cluster tests on kind. They skip, saying why, where Docker, kind or the cluster are
absent; `make cluster operators images kind-load` prepares one."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KUBECONFIG = ROOT / "k8s-tests" / ".kube" / "config"
NAMESPACE = "tidemark-e2e"


def _why_not() -> str | None:
    if shutil.which("docker") is None:
        return "no docker binary: kind needs a Docker engine"
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return "Docker is not running here: kind needs a Docker engine"
    if not (ROOT / "bin" / "kind").exists():
        return "no ./bin/kind: run `make cluster`"
    if not KUBECONFIG.exists():
        return "no kind cluster: run `make cluster operators images kind-load`"
    return None


@pytest.fixture(scope="session")
def api() -> Iterator[object]:
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    from kubernetes import client, config

    config.load_kube_config(str(KUBECONFIG))
    yield client
