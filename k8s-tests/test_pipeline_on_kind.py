"""Deploy the chart on kind, wait for Kafka and Cassandra to be Ready, let the producer run,
trigger the CronJobs through the API and see rows reach MySQL."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import KUBECONFIG, NAMESPACE, ROOT

RELEASE = "tidemark"
pytestmark = pytest.mark.k8s


def run(*argv: str, timeout: int = 1500) -> str:
    env = {"KUBECONFIG": str(KUBECONFIG), "PATH": f"{ROOT / 'bin'}:/usr/bin:/bin"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def dump() -> str:
    """What a person would look at when something is stuck."""
    parts = []
    for argv in (
        ("kubectl", "-n", NAMESPACE, "get", "pods,jobs,kafka,k8ssandracluster", "-o", "wide"),
        ("kubectl", "-n", NAMESPACE, "describe", "pods"),
        ("kubectl", "-n", NAMESPACE, "logs", "-l", "app.kubernetes.io/part-of=tidemark", "--tail=80", "--prefix"),
    ):
        try:
            parts.append(run(*argv, timeout=60))
        except AssertionError as e:
            parts.append(str(e))
    return "\n".join(parts)[-20000:]


def until(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(5)
    pytest.fail(f"timed out after {timeout_s}s waiting for {what}\n{dump()}")


def ready(custom: Any, group: str, version: str, plural: str, name: str) -> bool:
    try:
        obj = custom.get_namespaced_custom_object(group, version, NAMESPACE, plural, name)
    except Exception:  # noqa: BLE001 - not created yet
        return False
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@pytest.fixture(scope="module")
def deployed(api: Any) -> Any:
    run(
        str(ROOT / "bin" / "helm"),
        "upgrade",
        "--install",
        RELEASE,
        str(ROOT / "charts" / "tidemark"),
        "-n",
        NAMESPACE,
        "--create-namespace",
        "--wait",
        "--timeout",
        "25m",
        "--set",
        "producer.rate=100",
        "--set",
        "jobs.schedules.aggregate.schedule=*/30 * * * *",
    )
    custom = api.CustomObjectsApi()
    until(lambda: ready(custom, "kafka.strimzi.io", "v1", "kafkas", RELEASE), 900, "Kafka Ready")
    until(
        lambda: ready(custom, "k8ssandra.io", "v1alpha1", "k8ssandraclusters", RELEASE), 1200, "K8ssandraCluster Ready"
    )
    return api


def trigger(api: Any, job: str) -> None:
    batch = api.BatchV1Api()
    cron = batch.read_namespaced_cron_job(f"{RELEASE}-{job}", NAMESPACE)
    name = f"{job}-e2e-{int(time.time())}"
    body = api.V1Job(
        metadata=api.V1ObjectMeta(name=name, namespace=NAMESPACE),
        spec=cron.spec.job_template.spec,
    )
    batch.create_namespaced_job(NAMESPACE, body)

    def finished() -> bool:
        status = batch.read_namespaced_job_status(name, NAMESPACE).status
        if status.failed:
            pytest.fail(f"job {name} failed\n{dump()}")
        return bool(status.succeeded)

    until(finished, 1200, f"job {name} to succeed")


def producer_sent() -> float:
    metrics = run(
        "kubectl",
        "-n",
        NAMESPACE,
        "exec",
        f"deploy/{RELEASE}-producer-tracking",
        "--",
        "python",
        "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/metrics').read().decode())",
        timeout=60,
    )
    lines = [ln for ln in metrics.splitlines() if ln.startswith("tidemark_producer_events_sent_total")]
    return sum(float(ln.split()[-1]) for ln in lines)


def events_in_mysql() -> tuple[int, int]:
    out = run(
        "kubectl",
        "-n",
        NAMESPACE,
        "exec",
        f"{RELEASE}-mysql-0",
        "--",
        "sh",
        "-c",
        'mysql -N -uroot -p"$MYSQL_ROOT_PASSWORD" analytics -e "SELECT COUNT(*), COALESCE(SUM(clicks), 0) FROM events"',
    )
    rows, clicks = out.split()
    return int(rows), int(clicks)


def test_rows_reach_mysql_from_the_continuous_driver(deployed: Any) -> None:
    """The default install: continuous ingest aggregates each micro-batch, no CronJob needed."""
    until(lambda: producer_sent() >= 3000, 600, "the producer to send 3000 beacons")
    until(lambda: min(events_in_mysql()) > 0, 600, "hourly rows with clicks in MySQL")


def test_cronjobs_run_to_completion(deployed: Any) -> None:
    for job in ("dims", "aggregate"):
        trigger(deployed, job)
    rows, clicks = events_in_mysql()
    assert rows > 0 and clicks > 0, (rows, clicks)
