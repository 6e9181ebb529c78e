"""The operators' CRDs and every scenario under charts/tidemark/ci/, applied to a real API server:
schema validation, strict fields, CEL rules, defaulting and Pod Security, with no warning."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .kube import SCENARIOS, Cluster, docs_of


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
    print(f"{scenario.stem}: {len(docs)} objects applied")
