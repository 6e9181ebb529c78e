from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from local import apiserver

from .kube import CRDS, HELM, KUBECTL, ROOT, Cluster

# Every CRD the chart's objects need; the chart renders no cert-manager objects.
OPERATOR_CRDS = sorted(
    p for folder in ("strimzi-1.2.0", "k8ssandra-operator-1.32.5", "prometheus-operator-0.93.0")
    for p in (CRDS / folder).glob("*.yaml")
)  # fmt: skip


@pytest.fixture(scope="session")
def cluster() -> Cluster:
    """The local control plane, started if it is not running (the first start builds it: minutes)."""
    for tool in (HELM, KUBECTL):
        if not tool.exists():
            pytest.fail(f"{tool} is missing: run `make tools`")
    done = subprocess.run(
        [sys.executable, str(ROOT / "local" / "apiserver.py"), "up"], capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        pytest.fail(f"local/apiserver.py up failed:\n{done.stdout}{done.stderr}")
    return Cluster(apiserver.KUBECONFIG)


@pytest.fixture(scope="session")
def operator_crds(cluster: Cluster) -> subprocess.CompletedProcess[str]:
    """The operators' CRDs, applied server-side (the k8ssandra one is 2.5 MB: client-side apply
    would overflow the last-applied annotation) and established."""
    args = ["apply", "--server-side", "--field-manager=tidemark-tests"]
    for path in OPERATOR_CRDS:
        args += ["-f", str(path)]
    done = cluster.kubectl(*args)
    if done.returncode == 0:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    return done


@pytest.fixture
def namespace(cluster: Cluster, operator_crds: subprocess.CompletedProcess[str]) -> Iterator[str]:
    with cluster.namespace() as name:
        yield name
