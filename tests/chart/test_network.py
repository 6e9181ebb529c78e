"""The release's network, as its NetworkPolicies decide it (tests/chart/netpol.py): every flow of
the pipeline (DESIGN §2), DNS and Prometheus' scrapes get through; nothing else does, and
Cassandra's management API answers its operator only."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from .helm_template import CHART, by_kind, render_chart
from .netpol import Pod, allowed

NS = "tidemark"  # render_chart's namespace
FULLNAME = "t-tidemark"

KAFKA = Pod(
    "kafka", NS, {"strimzi.io/cluster": FULLNAME, "strimzi.io/kind": "Kafka", "strimzi.io/name": f"{FULLNAME}-kafka"}
)
CONNECT = Pod("connect", NS, {"strimzi.io/cluster": f"{FULLNAME}-connect", "strimzi.io/kind": "KafkaConnect"})
CASSANDRA = Pod(
    "cassandra", NS, {"cassandra.datastax.com/cluster": FULLNAME, "cassandra.datastax.com/datacenter": "dc1"}
)
OTHER_CASSANDRA = Pod("cassandra-2", NS, dict(CASSANDRA.labels))
PROMETHEUS = Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
GRAFANA = Pod("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"})
OPERATOR = Pod("k8ssandra-operator", "k8ssandra-operator", {"app.kubernetes.io/name": "k8ssandra-operator"})
DNS = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"})
INTRUDER = Pod("debug", NS, {"app": "debug"})  # any other pod of the namespace
STRANGER = Pod("elsewhere", "default", {"app": "web"})
# An executor pod as Spark makes it from the chart's pod template (spark.mode: kubernetes).
EXECUTOR = Pod(
    "executor",
    NS,
    {
        "app.kubernetes.io/name": "tidemark",
        "app.kubernetes.io/instance": "t",
        "app.kubernetes.io/component": "executor",
        "app.kubernetes.io/part-of": "tidemark",
        "spark-role": "executor",
    },
)
INTERNET = Pod("example.com", None)


@cache
def network(values_file: str) -> tuple[list[dict[str, Any]], dict[str, Pod]]:
    """The policies and the release's own pods (by component), rendered from a ci/ file."""
    docs = render_chart(values_files=[CHART / "ci" / values_file])
    pods: dict[str, Pod] = {}
    for d in docs:
        spec = d.get("spec", {})
        template = (
            spec["jobTemplate"]["spec"]["template"]
            if d["kind"] == "CronJob"
            else spec.get("template")
            if d["kind"] in ("Deployment", "StatefulSet", "Job")
            else None
        )
        if template:
            labels = template["metadata"]["labels"]
            pods.setdefault(labels["app.kubernetes.io/component"], Pod(d["metadata"]["name"], NS, labels))
    return by_kind(docs, "NetworkPolicy"), pods


def can(values_file: str, source: Pod | str, target: Pod | str, port: int, protocol: str = "TCP") -> bool:
    policies, pods = network(values_file)
    return allowed(
        policies,
        pods[source] if isinstance(source, str) else source,
        pods[target] if isinstance(target, str) else target,
        port,
        protocol,
    )


JOBS = ("migrate", "ingest", "aggregate", "dims")
PIPELINE = [
    *[(job, KAFKA, 9093) for job in JOBS],
    *[(job, CASSANDRA, 9042) for job in JOBS],
    *[(job, "mysql", 3306) for job in JOBS],
    *[(job, "pushgateway", 9091) for job in JOBS],
    ("producer", KAFKA, 9093),
    ("producer", "mysql", 3306),
    (CONNECT, "mysql", 3306),
    (GRAFANA, "mysql", 3306),
    (PROMETHEUS, "producer", 8000),
    (PROMETHEUS, "pushgateway", 9091),
    (PROMETHEUS, "ingest", 4040),  # Spark's metrics, the PodMonitor's scrape
    (PROMETHEUS, CASSANDRA, 9000),
    (OTHER_CASSANDRA, CASSANDRA, 7000),
    (OPERATOR, CASSANDRA, 8080),
]


def label(value: Any) -> str:
    return value.name if isinstance(value, Pod) else str(value)


@pytest.mark.parametrize(("source", "target", "port"), PIPELINE, ids=label)
def test_should_let_every_flow_of_the_pipeline_through(source: Pod | str, target: Pod | str, port: int) -> None:
    assert can("kind-default.yaml", source, target, port)


@pytest.mark.parametrize("component", [*JOBS, "producer", "pushgateway", "mysql"])
def test_should_let_every_pod_of_the_release_resolve_names(component: str) -> None:
    assert can("kind-default.yaml", component, DNS, 53, "UDP")
    assert can("kind-default.yaml", component, DNS, 53, "TCP")


DENIED = [
    (INTRUDER, CASSANDRA, 8080),  # the management API creates superuser roles
    ("ingest", CASSANDRA, 8080),
    (STRANGER, CASSANDRA, 8080),
    (INTRUDER, CASSANDRA, 9042),
    (INTRUDER, "mysql", 3306),
    (STRANGER, "mysql", 3306),
    (INTRUDER, "pushgateway", 9091),
    ("producer", CASSANDRA, 9042),
    ("producer", "pushgateway", 9091),
    ("mysql", KAFKA, 9093),
    ("producer", KAFKA, 9092),  # no listener in clear
    (PROMETHEUS, "mysql", 3306),  # the monitoring namespace reaches metrics ports, Grafana alone MySQL
    ("mysql", "pushgateway", 9091),  # only the jobs push
    ("mysql", INTERNET, 443),
    ("pushgateway", "mysql", 3306),
    ("aggregate", INTERNET, 443),
    ("ingest", STRANGER, 80),
    ("producer", INTERNET, 443),
    (INTRUDER, "ingest", 4040),
]


@pytest.mark.parametrize(("source", "target", "port"), DENIED, ids=label)
def test_should_deny_everything_else(source: Pod | str, target: Pod | str, port: int) -> None:
    assert not can("kind-default.yaml", source, target, port)


def test_should_let_a_driver_and_its_executors_talk_when_executors_are_pods() -> None:
    assert can("spark-kubernetes.yaml", "aggregate", EXECUTOR, 7079)
    assert can("spark-kubernetes.yaml", EXECUTOR, "aggregate", 7078)
    assert can("spark-kubernetes.yaml", "aggregate", INTERNET, 443), "the Kubernetes API"
    assert can("spark-kubernetes.yaml", EXECUTOR, CASSANDRA, 9042)
    assert can("spark-kubernetes.yaml", EXECUTOR, KAFKA, 9093)
    assert can("spark-kubernetes.yaml", EXECUTOR, "mysql", 3306)
    assert can("spark-kubernetes.yaml", EXECUTOR, EXECUTOR, 7337), "shuffle between executors"
    assert not can("spark-kubernetes.yaml", EXECUTOR, INTERNET, 80)
    assert not can("spark-kubernetes.yaml", INTRUDER, EXECUTOR, 7079)
    assert not can("kind-default.yaml", "aggregate", EXECUTOR, 7079), "no executors, no such flow"


def test_should_reach_stores_outside_the_cluster_on_their_ports_only() -> None:
    assert can("external-stores.yaml", "ingest", INTERNET, 9092)
    assert can("external-stores.yaml", "ingest", INTERNET, 9042)
    assert can("external-stores.yaml", "ingest", INTERNET, 3306)
    assert not can("external-stores.yaml", "ingest", INTERNET, 443)
    assert not can("external-stores.yaml", "producer", INTERNET, 9042)


def test_should_add_the_users_egress_rules_to_every_pod() -> None:
    extra = [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 8081, "protocol": "TCP"}]}]
    docs = render_chart({"networkPolicy": {"extraEgress": extra}}, values_files=[CHART / "ci" / "kind-default.yaml"])
    _, pods = network("kind-default.yaml")
    policies = by_kind(docs, "NetworkPolicy")
    assert allowed(policies, pods["producer"], INTERNET, 8081)
    assert not allowed(policies, pods["producer"], INTERNET, 8082)


def test_should_render_no_policy_when_switched_off() -> None:
    docs = render_chart({"networkPolicy": {"enabled": False}}, values_files=[CHART / "ci" / "kind-default.yaml"])
    assert by_kind(docs, "NetworkPolicy") == []


def test_should_let_prometheus_scrape_each_producer_on_its_own_port() -> None:
    policies, pods = network("kind-default.yaml")
    docs = render_chart(values_files=[CHART / "ci" / "kind-default.yaml"])
    producers = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].startswith(f"{FULLNAME}-producer-")]
    assert len(producers) == 4
    for producer in producers:
        template = producer["spec"]["template"]
        (port,) = template["spec"]["containers"][0]["ports"]
        pod = Pod(producer["metadata"]["name"], NS, template["metadata"]["labels"])
        assert allowed(policies, PROMETHEUS, pod, port["containerPort"]), producer["metadata"]["name"]
        assert not allowed(policies, INTRUDER, pod, port["containerPort"])
    assert not allowed(policies, PROMETHEUS, pods["producer"], 8004), "one port per producer, no more"


def test_should_let_the_jobs_push_to_a_pushgateway_outside_the_release_on_its_port() -> None:
    values = {"pushgateway": {"enabled": False, "address": "pushgateway.example:19091"}}
    docs = render_chart(values, values_files=[CHART / "ci" / "kind-default.yaml"])
    _, pods = network("kind-default.yaml")
    policies = by_kind(docs, "NetworkPolicy")
    assert allowed(policies, pods["aggregate"], INTERNET, 19091)
    assert not allowed(policies, pods["producer"], INTERNET, 19091)
    assert not can("kind-default.yaml", "aggregate", INTERNET, 19091), "only when one is named"


def test_should_let_the_api_callers_reach_the_api_server_on_the_port_named() -> None:
    values = {"kubernetesApi": "https://api.example:8443", "spark": {"mode": "kubernetes"}}
    docs = render_chart(values, values_files=[CHART / "ci" / "kind-default.yaml"])
    _, pods = network("kind-default.yaml")
    policies = by_kind(docs, "NetworkPolicy")
    for caller in ("aggregate", "passwords"):
        assert allowed(policies, pods[caller], INTERNET, 8443), caller
        assert not allowed(policies, pods[caller], INTERNET, 6443), caller
    assert not allowed(policies, pods["producer"], INTERNET, 8443)
