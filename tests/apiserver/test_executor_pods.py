"""Executor pods in spark.mode: kubernetes, as Spark makes them from the chart's pod template,
asked of a namespace that enforces the restricted Pod Security level."""

from __future__ import annotations

import copy
import json
from typing import Any

import yaml

from .kube import CHART, Cluster, docs_of


def executor_pod(template: dict[str, Any], name: str) -> dict[str, Any]:
    """What Spark adds to the template's first container and pod (Spark 3.5's executor builder):
    image, command, env, resources and a local-dir emptyDir; it keeps the rest. No port: with
    spark.blockManager.port 0 (jobs/spark.py) Spark declares none."""
    pod = copy.deepcopy(template)
    pod["metadata"] = {**pod.get("metadata", {}), "name": name}
    pod["metadata"]["labels"] = {**pod["metadata"].get("labels", {}), "spark-role": "executor"}
    container = pod["spec"]["containers"][0]
    container.update(
        image="tidemark/jobs:0.1.0",
        args=["executor"],
        env=[{"name": "SPARK_LOCAL_DIRS", "value": "/var/data/spark-1"}],
        resources={"requests": {"cpu": "1", "memory": "1408Mi"}, "limits": {"memory": "1408Mi"}},
    )
    container["volumeMounts"] = [
        *container.get("volumeMounts", []),
        {"name": "spark-local-dir-1", "mountPath": "/var/data/spark-1"},
    ]
    pod["spec"]["volumes"] = [*pod["spec"].get("volumes", []), {"name": "spark-local-dir-1", "emptyDir": {}}]
    pod["spec"]["restartPolicy"] = "Never"
    return pod


def test_should_admit_executors_made_from_the_chart_pod_template(cluster: Cluster, namespace: str) -> None:
    docs = docs_of(cluster.render(namespace, [CHART / "ci" / "spark-kubernetes.yaml"]))
    (config,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-spark-pod-template")]
    template = yaml.safe_load(config["data"]["executor.yaml"])
    done = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", "-o", "json",
        stdin=json.dumps(executor_pod(template, "exec-1")),
    )  # fmt: skip
    assert done.returncode == 0 and "Warning" not in done.stderr, done.stderr
    admitted = json.loads(done.stdout)
    assert admitted["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert admitted["spec"]["automountServiceAccountToken"] is False


def test_should_refuse_executors_as_spark_makes_them_without_a_template(cluster: Cluster, namespace: str) -> None:
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {}, "spec": {"containers": [{"name": "executor"}]}}
    done = cluster.kubectl(
        "create", "--dry-run=server", "-n", namespace, "-f", "-", stdin=json.dumps(executor_pod(bare, "exec-2"))
    )
    assert done.returncode != 0
    assert "violates PodSecurity" in done.stderr and "restricted" in done.stderr, done.stderr
