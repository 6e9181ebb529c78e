from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from local import apiserver, node
from tests.crds import crd_files

from .kube import HELM, KUBECTL, ROOT, Cluster, pod_security

# Every CRD the chart's objects need: the operators' and cert-manager's.
OPERATOR_CRDS = crd_files()


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
    # This tier proves what the control plane alone makes of the chart, its Pods Pending: a node
    # left up by the node tier or `make node-up` would schedule and run them.
    if any(p.pid() is not None for p in node.PROCESSES):
        print("stopping the local node: the apiserver tier's Pods must stay Pending")
        node.down()
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
def namespace(
    request: pytest.FixtureRequest, cluster: Cluster, operator_crds: subprocess.CompletedProcess[str]
) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security level, or for a test of a ci/
    scenario the level that scenario needs (kube.pod_security)."""
    callspec = getattr(request.node, "callspec", None)
    with cluster.namespace(level=pod_security(callspec.params.get("scenario") if callspec else None)) as name:
        yield name
