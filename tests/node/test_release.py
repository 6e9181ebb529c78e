"""The chart's workloads as real Pods on the local node, against the local stack's servers: one
release driven through its life, in this file's order (each test takes up where the one before
left it): running, jobs from their CronJobs, Spark executors as Pods, a kill -9, an upgrade and a
rollback under load, the numbers against the oracles, and an uninstall that leaves nothing."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from local import apiserver, chaos, node, node_release, stack
from local.chaos_load import STREAMS
from local.chaos_verdict import RunStores
from tests.apiserver.kube import wait_for
from tests.integration.conftest import http_json

from .conftest import NAMESPACE, RELEASE, Release, everything_in

ROOT = node.ROOT
DEPLOYMENTS = {f"{RELEASE}-producer-{s}" for s in STREAMS} | {f"{RELEASE}-ingest"}
EXECUTOR = "spark-role=executor"
# How the jobs' log lines and Spark's begin (jobs/__main__.py, jobs/log4j2.properties).
TIMESTAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


def available(release: Release) -> set[str]:
    found = json.loads(release.kubectl("get", "deployments", "-o", "json"))["items"]
    return {
        d["metadata"]["name"]
        for d in found
        if any(c["type"] == "Available" and c["status"] == "True" for c in d["status"].get("conditions", []))
        and d["status"].get("updatedReplicas") == d["spec"]["replicas"]
    }


def ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def running_pods(release: Release) -> list[dict[str, Any]]:
    return [p for p in release.pods() if p["status"]["phase"] == "Running"]


def test_should_make_every_deployment_available(release: Release) -> None:
    wait_for("every Deployment Available", lambda: available(release) >= DEPLOYMENTS, release.dump, 300)
    pods = running_pods(release)
    assert all(ready(p) for p in pods if "job-name" not in p["metadata"]["labels"]), release.dump()
    # Every Pod is on the node, on its host network, and nothing advertises the node's address.
    assert {p["spec"]["nodeName"] for p in pods} == {node.NAME}
    assert all(p["spec"].get("hostNetwork") for p in pods)


def ingest_monitor(release: Release) -> dict[str, Any]:
    """The ingest PodMonitor the chart renders for this release where monitors are on (the node
    runs no Prometheus Operator, so the release has them off)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as values:
        values.write(release.helm("get", "values", RELEASE, "--all", "--output", "yaml"))
        values.flush()
        rendered = release.helm(
            "template", RELEASE, str(ROOT / "charts" / "tidemark"), "--values", values.name,
            "--set", "monitoring.enabled=true", "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
            "--show-only", "templates/monitoring/monitors.yaml",
        )  # fmt: skip
    return next(
        d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "PodMonitor" and "ingest" in d["metadata"]["name"]
    )


def test_should_serve_every_ingest_monitor_endpoint_from_the_real_pod(release: Release) -> None:
    """What Prometheus would scrape: each endpoint of the ingest PodMonitor, at the port the Pod's
    container names, answers with Spark's metrics of the running driver. The Pod is on the host
    network, so its ports are the node's, here on loopback (the IP the node advertises, a
    documentation address, is never dialled)."""
    pod = ingest_pod(release)
    assert pod["spec"]["hostNetwork"]
    ports = {p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
    for endpoint in ingest_monitor(release)["spec"]["podMetricsEndpoints"]:
        url = f"http://127.0.0.1:{ports[endpoint['port']]}{endpoint['path']}"

        def scraped(url: str = url) -> str | None:
            try:
                with urllib.request.urlopen(url, timeout=10) as answer:
                    text = str(answer.read().decode())
            except OSError:
                return None
            return text if "metrics_" in text else None

        text = wait_for(f"Spark's metrics at {url}", scraped, release.dump, 120)
        if endpoint["path"] == "/metrics/prometheus":
            assert "metrics_tidemark_driver_BlockManager_memory_memUsed_MB_Number" in text, text[:2000]


def in_container(release: Release, pod: str, container: str, script: str) -> str:
    return release.kubectl("exec", pod, "-c", container, "--", "sh", "-c", script)


def test_should_run_every_container_restricted_for_real(release: Release) -> None:
    """The restricted context as the live Pods have it, and as the processes in them feel it."""
    checked = 0
    for pod in running_pods(release):
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
            assert context["capabilities"]["drop"] == ["ALL"]
            seen = in_container(
                release,
                pod["metadata"]["name"],
                container["name"],
                "id -u; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; "
                "touch /root-is-writable 2>&1 || true; touch /tmp/tmp-is-writable && echo tmp ok",
            )
            lines = seen.splitlines()
            assert int(lines[0]) != 0, seen
            status = dict(line.split(":\t") for line in lines[1:4])
            # No capability, a seccomp filter (mode 2), and no privilege to gain.
            assert status == {"CapEff": "0000000000000000", "Seccomp": "2", "NoNewPrivs": "1"}, seen
            assert "Read-only file system" in seen and "tmp ok" in seen, seen
            checked += 1
    assert checked >= len(DEPLOYMENTS)


def raw_rows(stores: RunStores) -> dict[str, int]:
    return stores.raw_counts(["tracking_raw", "ads_raw", "orders_raw", "user_session_raw"])


def test_should_land_the_producers_events_in_kafka_cassandra_and_mysql(release: Release) -> None:
    stores = RunStores(node_release.RUN)
    wait_for(
        "raw rows of every stream in Cassandra and hourly rows in MySQL",
        lambda: (
            all(raw_rows(stores).values())
            and stores.sql("SELECT COUNT(*) FROM events")[0][0]
            and stores.sql("SELECT COUNT(*) FROM ad_window_stats")[0][0]
        ),
        release.dump,
        300,
    )


def run_jobs(release: Release, *cronjobs: str, timeout_s: float = 900) -> dict[str, str]:
    """`kubectl create job --from=cronjob/…` of each at once, each waited for to Complete; gives
    each one's log."""
    names = {cronjob: f"{cronjob}-node-{int(time.time())}" for cronjob in cronjobs}
    for cronjob, name in names.items():
        release.kubectl("create", "job", f"--from=cronjob/{RELEASE}-{cronjob}", name)
    for name in names.values():
        wait_for(f"Job {name} Complete", functools.partial(job_finished, release, name), release.dump, timeout_s)
    return {cronjob: release.kubectl("logs", f"job/{name}") for cronjob, name in names.items()}


def job_finished(release: Release, name: str) -> bool:
    conditions = json.loads(release.kubectl("get", "job", name, "-o", "json"))["status"].get("conditions", [])
    failed = [c for c in conditions if c["type"] == "Failed" and c["status"] == "True"]
    assert not failed, f"Job {name} failed: {failed}\n{release.kubectl('logs', f'job/{name}')[-5000:]}"
    return any(c["type"] == "Complete" and c["status"] == "True" for c in conditions)


def error_entries(log: str) -> list[str]:
    """Each ERROR line of `make logs` with the lines that continue it (a stack trace), under the
    Pod it came from: an entry ends where the next timestamped line or Pod header begins."""
    entries: list[tuple[str, list[str]]] = []
    pod = ""
    for line in log.splitlines():
        if line.startswith("==> "):
            pod = line.removeprefix("==> ")
            entries.append((pod, []))
        elif TIMESTAMPED.match(line):
            entries.append((pod, [line]))
        elif entries:
            entries[-1][1].append(line)
    return [f"{pod}:\n" + "\n".join(lines) for pod, lines in entries if lines and " ERROR " in lines[0]]


def test_should_run_migrate_and_dims_from_their_cronjobs(release: Release) -> None:
    logs = run_jobs(release, "migrate", "dims")
    assert "migrate done" in logs["migrate"] and "dims done" in logs["dims"], logs


def test_should_run_aggregate_with_executor_pods_through_make_trigger_and_show_its_log(release: Release) -> None:
    """`make trigger JOB=aggregate` against the node: its driver (spark.mode kubernetes) runs its
    executors as Pods through the API server, and stops them when it is done. The CronJob may start
    its own run meanwhile, with executors of its own: only the manual driver's are counted."""
    executors: set[str] = set()
    watching = threading.Event()

    def watch() -> None:
        while not watching.is_set():
            executors.update(manual_executors(release))
            time.sleep(1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    env = {**os.environ, "KUBECONFIG": str(apiserver.KUBECONFIG), "NAMESPACE": NAMESPACE, "RELEASE": RELEASE}
    started = time.time()
    try:
        done = subprocess.run(
            ["make", "-s", "trigger", "JOB=aggregate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200
        )
    finally:
        watching.set()
        watcher.join()
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{release.dump()}"
    assert executors, f"no executor Pod ({EXECUTOR}) while aggregate ran\n{release.dump()}"
    wait_for("no executor Pod of the manual run left", lambda: not manual_executors(release), release.dump, 120)
    logs = subprocess.run(
        ["make", "-s", "logs", "JOB=aggregate"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert logs.returncode == 0 and "aggregate done" in logs.stdout, f"{logs.stdout}\n{logs.stderr}"
    errors = error_entries(logs.stdout)
    assert not errors, "\n\n".join(errors)
    # Executors declare no port of the node (jobs/spark.py): the CronJobs' and the manual run's
    # run side by side instead of waiting for one another.
    waits = [line for line in release.cluster.events(NAMESPACE).splitlines() if "free ports" in line]
    assert not waits, "\n".join(waits)
    # The run pushed its metrics to the Pushgateway outside the release (pushgateway.address).
    groups = http_json(f"http://{stack.HOST}:{stack.PORTS['pushgateway']}/api/v1/metrics")["data"]
    pushed = [
        float(g["push_time_seconds"]["metrics"][0]["value"])
        for g in groups
        if g["labels"] == {"job": "tidemark_aggregate", "release": f"{NAMESPACE}/{RELEASE}"}
    ]
    assert pushed and max(pushed) >= started, groups


def manual_executors(release: Release) -> set[str]:
    """Executor Pods whose owner is the driver Pod of a `make trigger` Job (named `<job>-manual-…`)."""
    return {
        pod["metadata"]["name"]
        for pod in release.pods(EXECUTOR)
        if any("-manual-" in owner["name"] for owner in pod["metadata"].get("ownerReferences", []))
    }


def ingest_pod(release: Release) -> dict[str, Any]:
    pods = release.pods(release.component("ingest"))
    assert len(pods) == 1, release.dump()
    return pods[0]


def host_pid(container_id: str) -> int:
    """The host pid of a container's first process, from the node's containerd."""
    done = subprocess.run(
        ["ctr", "--address", str(node.SOCKET), "-n", node.NAMESPACE, "tasks", "ls"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in done.stdout.splitlines()[1:]:
        task, pid, _ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no task {container_id} in:\n{done.stdout}")


def test_should_restart_ingest_after_kill9_and_report_it_truthfully(release: Release) -> None:
    pod = ingest_pod(release)
    status = pod["status"]["containerStatuses"][0]
    restarts = status["restartCount"]
    os.kill(host_pid(status["containerID"].split("://")[1]), 9)

    def restarted() -> dict[str, Any] | None:
        now = ingest_pod(release)
        return now if now["status"]["containerStatuses"][0]["restartCount"] > restarts else None

    wait_for("the kubelet restarts the killed ingest", restarted, release.dump, 120)
    # Not Ready until the new driver beats: readiness reads its heartbeat, not the old one's.
    started = wait_for(
        "the restarted ingest Ready",
        lambda: ready(p := ingest_pod(release)) and p["status"]["containerStatuses"][0]["state"].get("running"),
        release.dump,
        300,
    )["startedAt"]
    name = ingest_pod(release)["metadata"]["name"]
    beat = in_container(release, name, "ingest", "date -u -r /tmp/tidemark/alive +%Y-%m-%dT%H:%M:%SZ").strip()
    assert beat >= started, f"Ready on a heartbeat from before the restart ({beat} < {started})"
    assert "ingest is alive" in release.kubectl("exec", name, "-c", "ingest", "--", "python", "-m", "jobs.alive")


def pod_uids(release: Release) -> dict[str, str]:
    """Deployment name → the uid of its Pod."""
    out = {}
    for pod in release.pods():
        owner = pod["metadata"].get("ownerReferences", [{}])[0]
        if owner.get("kind") == "ReplicaSet":
            out[owner["name"].rsplit("-", 1)[0]] = pod["metadata"]["uid"]
    return out


def test_should_roll_every_deployment_on_upgrade_and_back_on_rollback(release: Release) -> None:
    before = pod_uids(release)
    # A changed setting for the producers and for the jobs: both ConfigMaps' checksums change.
    node_release.install({"producer": {"rate": 25}, "jobs": {"env": {"TIDEMARK_SPARK_LOG_LEVEL": "WARN"}}})
    wait_for(
        "every Deployment Available after the upgrade", lambda: available(release) >= DEPLOYMENTS, release.dump, 300
    )
    after = pod_uids(release)
    assert set(after) >= DEPLOYMENTS and all(after[d] != before[d] for d in DEPLOYMENTS), (before, after)
    rate = release.kubectl("get", "configmap", f"{RELEASE}-producer", "-o", "jsonpath={.data.TIDEMARK_PRODUCER_RATE}")
    assert rate == "25"

    release.helm("rollback", RELEASE, "1", "--wait", "--timeout", "10m")
    wait_for(
        "every Deployment Available after the rollback", lambda: available(release) >= DEPLOYMENTS, release.dump, 300
    )
    rolled = pod_uids(release)
    assert all(rolled[d] != after[d] for d in DEPLOYMENTS), (after, rolled)
    history = json.loads(release.helm("history", RELEASE, "--output", "json"))
    assert [h["revision"] for h in history][-3:] == [1, 2, 3] and history[-1]["status"] == "deployed"


def acknowledged() -> dict[str, list[tuple[str, bytes | None, bytes]]]:
    """What Kafka holds on the release's topics, per stream and part, as chaos.compare reads it."""
    streams = node_release.values()["streams"]
    out: dict[str, list[tuple[str, bytes | None, bytes]]] = {}
    for stream in STREAMS:
        topics = streams[stream].get("topics") or {"": streams[stream]["topic"]}
        out[stream] = [(part, k, v) for part, topic in topics.items() for k, v in everything_in(topic)]
    return out


def test_should_count_every_acknowledged_event_exactly_once(release: Release) -> None:
    """Producers stopped, ingest caught up: each stream against its oracle over exactly what Kafka
    acknowledged, through the kill -9, the upgrade and the rollback."""
    release.kubectl("scale", "deployment", "-l", release.component("producer"), "--replicas=0")
    wait_for("the producers stopped", lambda: not release.pods(release.component("producer")), release.dump, 120)
    sent = acknowledged()
    stores = RunStores(node_release.RUN)
    results: dict[str, Any] = {}

    def exact() -> bool:
        results.update(chaos.compare(stores, sent))
        return all(
            r["lost"] == 0 and r["double_counted"] == 0 and r["raw_rows"] == r["raw_expected"] for r in results.values()
        )

    wait_for("every stream equal to its oracle", exact, lambda: json.dumps(results, indent=2, default=str), 300)
    assert all(r["events_sent"] > 0 for r in results.values()), results


def test_should_leave_no_pod_job_or_executor_after_uninstall(release: Release) -> None:
    release.helm("uninstall", RELEASE, "--wait", "--timeout", "5m")

    def empty() -> bool:
        return not release.pods() and not json.loads(release.kubectl("get", "jobs", "-o", "json"))["items"]

    wait_for("no Pod, Job or executor left", empty, release.dump, 180)


def test_should_give_the_host_back_on_node_down_and_come_up_again(release: Release) -> None:
    """`make node-down` then `make node-up`, twice each: every host change undone, and back."""
    before = json.loads(node.HOST_STATE.read_text())
    for _ in range(2):
        node.down()
    assert not node.HOST_STATE.exists() and not node.kubepods() and not node.mounts_under(node.NODE)
    for name, value in before["sysctls"].items():
        assert (Path("/proc/sys") / name).read_text().strip() == value, name
    assert not any(Path(p).exists() for p in before["created"]), before["created"]
    assert all(p.pid() is None for p in node.PROCESSES)
    for _ in range(2):
        node.up()
    assert node.node_ready() and json.loads(node.HOST_STATE.read_text()) == before
