"""The operators' CRDs and every scenario under charts/tidemark/ci/, applied to a real API server:
schema validation, strict fields, CEL rules, defaulting and Pod Security, with no warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .kube import CHART, SCENARIOS, Cluster, docs_of, pod_security


def test_should_apply_the_operators_crds_server_side_without_a_warning(
    cluster: Cluster, operator_crds: subprocess.CompletedProcess[str], namespace: str
) -> None:
    assert operator_crds.returncode == 0 and "Warning" not in operator_crds.stderr, operator_crds.stderr
    kinds = {(d["apiVersion"], d["kind"]) for s in SCENARIOS for d in docs_of(cluster.render(namespace, [s]))}
    missing = sorted(f"{api}/{kind}" for api, kind in kinds if kind not in cluster.served(api))
    assert not missing, f"the chart renders kinds the server does not serve: {missing}"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_should_apply_every_scenario_for_real_without_an_error_or_a_warning(
    cluster: Cluster, namespace: str, scenario: Path
) -> None:
    manifest = cluster.render(namespace, [scenario])
    docs = docs_of(manifest)
    applied = cluster.ok(
        "apply", "--server-side", "--field-manager=tidemark-tests", "-n", namespace, "-f", "-", stdin=manifest
    )
    assert len(applied.splitlines()) == len(docs), applied
    level = cluster.one("namespace", namespace, namespace)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
    assert level == ("privileged" if scenario.stem == "node" else "restricted"), level
    print(f"{scenario.stem}: {len(docs)} objects applied under the {level} Pod Security level")


def test_should_warn_of_the_nodes_host_network_pods_where_restricted_is_enforced(cluster: Cluster) -> None:
    """Why ci/node.yaml alone gets a privileged namespace: its Pods share the node's network."""
    assert pod_security(CHART / "ci" / "node.yaml") == "privileged"
    assert {pod_security(s) for s in SCENARIOS if s.stem != "node"} == {"restricted"}
    with cluster.namespace(level="restricted") as namespace:
        manifest = cluster.render(namespace, [CHART / "ci" / "node.yaml"])
        done = cluster.kubectl("apply", "--dry-run=server", "-n", namespace, "-f", "-", stdin=manifest)
    assert done.returncode == 0, done.stderr
    # One line per distinct warning (kubectl drops repeats), each naming the host network.
    warned = [line for line in done.stderr.splitlines() if "would violate PodSecurity" in line]
    assert warned and all("host namespaces (hostNetwork=true)" in line for line in warned), done.stderr
