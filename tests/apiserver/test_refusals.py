"""Broken values never reach the cluster: the chart's schema refuses them at render time, or the
API server refuses the objects, and either way the message names the problem."""

from __future__ import annotations

from typing import Any, Literal

import pytest

from .kube import Cluster, KubeError

REFUSALS = [
    pytest.param({"producer": {"rat": 5}}, "chart", "additional properties 'rat' not allowed", id="typo-key"),
    pytest.param({"kafka": {"replicas": -1}}, "chart", "/kafka/replicas", id="negative-kafka-replicas"),
    pytest.param(
        {"kafkaConnect": {"replicas": -1}},
        "server",
        '"t-tidemark-connect" is invalid: .spec.replicas: Invalid value: -1: should be a non-negative integer',
        id="negative-connect-replicas",
    ),
    pytest.param(
        {"cassandra": {"size": -1}},
        "server",
        "spec.cassandra.datacenters[0].size in body should be greater than or equal to 1",
        id="negative-cassandra-size",
    ),
    pytest.param(
        {"jobs": {"schedules": {"dims": {"schedule": "every 5 minutes"}}}},
        "server",
        'spec.schedule: Invalid value: "every 5 minutes"',
        id="bad-cron-schedule",
    ),
    pytest.param(
        {"streams": {"ads": {"schedule": "*/5 * * *"}}},
        "server",
        'spec.schedule: Invalid value: "*/5 * * *"',
        id="bad-stream-cron-schedule",
    ),
]


@pytest.mark.parametrize(("values", "refused_by", "message"), REFUSALS)
def test_should_refuse_broken_values_with_a_message_naming_the_problem(
    cluster: Cluster, namespace: str, values: dict[str, Any], refused_by: Literal["chart", "server"], message: str
) -> None:
    try:
        manifest = cluster.render(namespace, [], values)
    except KubeError as refusal:
        assert refused_by == "chart" and message in str(refusal), str(refusal)
        return
    applied = cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "-n", namespace, "-f", "-", stdin=manifest
    )  # fmt: skip
    assert applied.returncode != 0, f"both the chart and the server accepted {values}"
    assert refused_by == "server" and message in applied.stderr, applied.stderr
