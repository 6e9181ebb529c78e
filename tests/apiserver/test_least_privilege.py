"""What each identity the chart creates may do, asked of the API server's own authorizer
(`kubectl auth can-i --as`): the RBAC the chart renders, as the server reads it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .kube import CHART, RELEASE, Cluster

CI = CHART / "ci"


@dataclass
class Identity:
    """A ServiceAccount the chart made, as the server's authorizer sees it."""

    cluster: Cluster
    namespace: str
    account: str

    def can(self, verb: str, resource: str, where: str | None = None, name: str | None = None) -> bool:
        """`resource` may name a subresource, as `pods/exec` (kubectl would read it as a pod's
        name); `name` asks about one object."""
        subject = f"--as=system:serviceaccount:{self.namespace}:{self.account}"
        kind, _, sub = resource.partition("/")
        extra = [f"--subresource={sub}"] if sub else []
        target = f"{kind}/{name}" if name else kind
        done = self.cluster.kubectl("auth", "can-i", verb, target, *extra, "-n", where or self.namespace, subject)
        assert done.stdout.strip() in ("yes", "no"), done.stderr
        return done.stdout.strip() == "yes"


@pytest.fixture(scope="module")
def spark_driver(cluster: Cluster, operator_crds: subprocess.CompletedProcess[str]) -> Iterator[Identity]:
    """One install for the module: the questions below change nothing."""
    with cluster.namespace() as namespace:
        cluster.apply(namespace, [CI / "spark-kubernetes.yaml"])
        yield Identity(cluster, namespace, f"{RELEASE}-tidemark-spark")


@pytest.mark.parametrize(
    ("verb", "resource"),
    [("create", "pods"), ("delete", "pods"), ("watch", "pods"), ("create", "services"), ("create", "configmaps")],
)
def test_should_let_the_spark_driver_run_its_executors(spark_driver: Identity, verb: str, resource: str) -> None:
    assert spark_driver.can(verb, resource)


@pytest.mark.parametrize(
    ("verb", "resource"),
    [
        ("create", "secrets"),
        ("get", "secrets"),
        ("create", "pods/exec"),
        ("create", "persistentvolumeclaims"),
        ("create", "deployments.apps"),
        ("create", "jobs.batch"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("create", "rolebindings.rbac.authorization.k8s.io"),
        ("patch", "kafkas.kafka.strimzi.io"),
        ("create", "serviceaccounts/token"),
        ("get", "pods/log"),
    ],
)
def test_should_refuse_the_spark_driver_anything_else(spark_driver: Identity, verb: str, resource: str) -> None:
    assert not spark_driver.can(verb, resource)


def test_should_keep_the_spark_driver_in_its_namespace(spark_driver: Identity) -> None:
    assert not spark_driver.can("create", "pods", "default")
    assert not spark_driver.can("list", "pods", "kube-system")


@pytest.fixture(scope="module")
def connect_workers(cluster: Cluster, operator_crds: subprocess.CompletedProcess[str]) -> Iterator[Identity]:
    with cluster.namespace() as namespace:
        cluster.apply(namespace, [CI / "kind-default.yaml"])
        # Strimzi names the Connect workers' ServiceAccount <KafkaConnect name>-connect.
        yield Identity(cluster, namespace, f"{RELEASE}-tidemark-connect-connect")


def test_should_let_connect_read_the_debezium_password_and_no_other_secret(connect_workers: Identity) -> None:
    assert connect_workers.can("get", "secrets", name=f"{RELEASE}-tidemark-mysql-debezium")
    assert not connect_workers.can("get", "secrets", name=f"{RELEASE}-tidemark-mysql"), "it holds the root password"
    assert not connect_workers.can("list", "secrets")
    assert not connect_workers.can("get", "secrets", name=f"{RELEASE}-tidemark-superuser")
