"""The chart on one node whose only network is loopback (`hostNetwork: true`, ci/node.yaml):
every Pod of tidemark's own on the host network, and nothing dialing or advertising the node's
own address (a host-network Pod's status.podIP)."""

from __future__ import annotations

import json
from typing import Any

import yaml

from .helm_template import CHART, by_kind, named, render_chart, settings_of

NODE = CHART / "ci" / "node.yaml"
# Every kind of Pod the chart makes of its own, and Spark's executors in kubernetes mode.
HOST_NETWORK = {"hostNetwork": True, "spark": {"mode": "kubernetes"}, "jobs": {"continuousIngest": {"enabled": True}}}


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """kind/name -> pod spec of every workload rendered, the executors' pod template included."""
    out = {}
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec and "spec" in spec["template"]:
            out[f"{doc['kind']}/{doc['metadata']['name']}"] = spec["template"]["spec"]
    for config in by_kind(docs, "ConfigMap"):
        if "executor.yaml" in config.get("data", {}):
            out["executor"] = yaml.safe_load(config["data"]["executor.yaml"])["spec"]
    return out


def probes(pod: dict[str, Any]) -> list[dict[str, Any]]:
    kinds = ("readinessProbe", "livenessProbe", "startupProbe")
    return [c[k] for c in pod.get("initContainers", []) + pod["containers"] for k in kinds if k in c]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


class TestHostNetwork:
    def test_should_put_every_pod_of_tidemarks_own_on_the_host_network(self) -> None:
        pods = workloads(render_chart(HOST_NETWORK))
        ours = {name: pod for name, pod in pods.items() if not name.endswith("-mysql")}
        assert {
            "Deployment/t-tidemark-producer-tracking",
            "Deployment/t-tidemark-ingest",
            "Deployment/t-tidemark-pushgateway",
            "CronJob/t-tidemark-aggregate",
            "CronJob/t-tidemark-dims",
            "Job/t-tidemark-migrate",
            "Job/t-tidemark-passwords",
            "executor",
        } <= set(ours)
        for name, pod in ours.items():
            assert pod.get("hostNetwork") is True, name
            # Without it a host-network Pod resolves with the node's resolv.conf, not the cluster's.
            assert pod.get("dnsPolicy") == "ClusterFirstWithHostNet", name
        # The chart's own MySQL keeps the pod network: its clients find it by its Service's name.
        assert "hostNetwork" not in pods["StatefulSet/t-tidemark-mysql"]

    def test_should_probe_loopback_not_the_nodes_address(self) -> None:
        pods = workloads(render_chart(HOST_NETWORK))
        checked = [p for pod in pods.values() for p in probes(pod) if "httpGet" in p]
        assert len(checked) >= 6
        assert all(p["httpGet"]["host"] == "127.0.0.1" for p in checked), checked

    def test_should_advertise_loopback_as_the_spark_driver_and_executors_address(self) -> None:
        pods = workloads(render_chart(HOST_NETWORK))
        for name, pod in pods.items():
            env = env_of(pod["containers"][0])
            if "TIDEMARK_SPARK_DRIVER_HOST" in env:
                assert env["TIDEMARK_SPARK_DRIVER_HOST"] == "127.0.0.1", name
        assert env_of(pods["executor"]["containers"][0]) == {"TIDEMARK_EXECUTOR_HOST": "127.0.0.1"}

    def test_should_stop_a_host_network_pod_before_starting_its_successor(self) -> None:
        # Its ports are the node's: a new Pod beside the old one could never bind them.
        for deployment in by_kind(render_chart(HOST_NETWORK), "Deployment"):
            assert deployment["spec"]["strategy"] == {"type": "Recreate"}, deployment["metadata"]["name"]

    def test_should_render_the_pod_network_as_before_by_default(self) -> None:
        docs = render_chart({"spark": {"mode": "kubernetes"}})
        text = json.dumps(docs)
        assert "hostNetwork" not in text and "ClusterFirstWithHostNet" not in text
        pods = workloads(docs)
        driver = env_of(pods["CronJob/t-tidemark-aggregate"]["containers"][0])
        assert driver["TIDEMARK_SPARK_DRIVER_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        assert all("host" not in p["httpGet"] for pod in pods.values() for p in probes(pod) if "httpGet" in p)
        assert "env" not in pods["executor"]["containers"][0]
        producer = named(docs, "Deployment", "t-tidemark-producer-tracking")
        assert "strategy" not in producer["spec"]


class TestNodeScenario:
    def test_should_dial_and_advertise_loopback_only(self) -> None:
        docs = render_chart(values_files=[NODE], api_versions=())
        text = json.dumps(docs)
        assert "status.podIP" not in text, "a host-network Pod's IP is the node's"
        assert ".svc" not in text, "no cluster DNS on the node"
        config = named(docs, "ConfigMap", "t-tidemark-jobs")["data"]
        assert config["TIDEMARK_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"
        assert config["TIDEMARK_CASSANDRA_HOSTS"] == "127.0.0.1"
        assert config["TIDEMARK_MYSQL_HOST"] == "127.0.0.1"
        assert config["TIDEMARK_PUSHGATEWAY"] == "127.0.0.1:19091"
        assert config["TIDEMARK_SPARK_MASTER"] == "k8s://https://127.0.0.1:36443"
        pods = workloads(docs)
        assert all(pod.get("hostNetwork") is True for pod in pods.values()), [
            name for name, pod in pods.items() if not pod.get("hostNetwork")
        ]

    def test_should_use_the_external_stores_and_a_debezium_of_its_own(self) -> None:
        docs = render_chart(values_files=[NODE], api_versions=())
        # No operator's resource: nothing but what a bare API server serves.
        assert {d["apiVersion"] for d in docs} <= {"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1"}
        assert not [d for d in docs if d["kind"] == "NetworkPolicy"], "host-network Pods bypass NetworkPolicies"
        assert "t-tidemark-dims" in {c["metadata"]["name"] for c in by_kind(docs, "CronJob")}
        config = named(docs, "ConfigMap", "t-tidemark-jobs")["data"]
        assert config["TIDEMARK_CDC_JOB_TOPIC"] == "node.node_recruit.job"
        assert config["TIDEMARK_CASSANDRA_KEYSPACE"] == "node"
        pod = named(docs, "Job", "t-tidemark-migrate")["spec"]["template"]["spec"]
        migrate = settings_of(pod["containers"][0], pod)
        assert migrate["TIDEMARK_CASSANDRA_ADMIN_PASSWORD"]["secretKeyRef"]["name"] == "node-cassandra-admin"

    def test_should_keep_the_continuous_driver_local_and_fit_two_cores(self) -> None:
        docs = render_chart(values_files=[NODE], api_versions=())
        pods = workloads(docs)
        ingest = env_of(pods["Deployment/t-tidemark-ingest"]["containers"][0])
        assert ingest["TIDEMARK_SPARK_MASTER"] == "local[*]"
        config = named(docs, "ConfigMap", "t-tidemark-jobs")["data"]
        executors = int(config["TIDEMARK_SPARK_EXECUTOR_INSTANCES"])
        executor_cpu = millicores(config["TIDEMARK_SPARK_EXECUTOR_REQUEST_CORES"])
        # What may run at once: every Deployment, every CronJob with its executors. The hooks run
        # alone, before and after the rest; the node's own processes keep the other core.
        running = sum(
            millicores(c["resources"]["requests"]["cpu"])
            for name, pod in pods.items()
            if name.startswith(("Deployment/", "CronJob/"))
            for c in pod["containers"]
        )
        crons = len(by_kind(docs, "CronJob"))
        assert running + crons * executors * executor_cpu <= 1000, running


def millicores(cpu: str) -> int:
    return int(cpu[:-1]) if cpu.endswith("m") else int(float(cpu) * 1000)
