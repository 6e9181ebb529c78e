"""What the controller-manager makes of the applied chart: Jobs from the CronJobs, Pods from the
Deployments, Pods and claims from the StatefulSets, all admitted under the restricted Pod Security
level. Nothing schedules or runs them (no scheduler, no kubelet): they stay Pending."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from .kube import SCENARIOS, Cluster, wait_for


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pods(cluster: Cluster, namespace: str, labels: dict[str, str], count: int = 1) -> list[dict[str, Any]] | None:
    """The Pods matching `labels` once there are `count` of them."""
    found = cluster.get("pods", namespace, "-l", ",".join(f"{k}={v}" for k, v in sorted(labels.items())))
    return found if len(found) == count else None


def claims(cluster: Cluster, namespace: str, wanted: set[str]) -> bool:
    return wanted <= {c["metadata"]["name"] for c in cluster.get("persistentvolumeclaims", namespace)}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_should_run_each_cronjob_as_a_job_whose_pod_has_the_jobs_image_env_volumes_and_account(
    cluster: Cluster, namespace: str, scenario: Path
) -> None:
    docs = cluster.apply(namespace, [scenario])
    assert of_kind(docs, "CronJob"), "every scenario schedules at least one job"
    config_maps = {c["metadata"]["name"] for c in cluster.get("configmaps", namespace)}
    # As the server stored them, defaults filled in: what the Job controller copies from.
    for cron in cluster.get("cronjobs", namespace):
        run = f"{cron['metadata']['name']}-now"
        cluster.ok("create", "job", f"--from=cronjob/{cron['metadata']['name']}", run, "-n", namespace)
        found = wait_for(
            f"a Pod for Job {run}",
            partial(pods, cluster, namespace, {"job-name": run}),
            dump=partial(cluster.events, namespace),
        )
        want = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        pod = found[0]["spec"]
        container, expected = pod["containers"][0], want["containers"][0]
        assert container["image"] == expected["image"] and "/jobs:" in container["image"]
        assert container["command"][:3] == ["python", "-m", "jobs"]
        assert container["env"] == expected["env"] and container["envFrom"] == expected["envFrom"]
        assert {e["configMapRef"]["name"] for e in container["envFrom"]} <= config_maps
        assert pod["serviceAccountName"] == want["serviceAccountName"] == "t-tidemark-spark"
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert all(volumes[v["name"]] == v for v in want["volumes"]), pod["volumes"]
        assert claims(cluster, namespace, {volumes["checkpoints"]["persistentVolumeClaim"]["claimName"]})
        # The account mounts no API token unless Spark runs executors as pods.
        spark_on_kubernetes = any(e["name"] == "TIDEMARK_SPARK_DRIVER_HOST" for e in container["env"])
        sources = [s for v in pod["volumes"] for s in v.get("projected", {}).get("sources", [])]
        assert any("serviceAccountToken" in s for s in sources) == spark_on_kubernetes
        assert found[0]["status"]["phase"] == "Pending"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_should_give_every_deployment_statefulset_and_job_its_pods_and_claims(
    cluster: Cluster, namespace: str, scenario: Path
) -> None:
    docs = cluster.apply(namespace, [scenario])
    assert of_kind(docs, "Deployment"), "every scenario runs at least one Deployment"
    for workload in of_kind(docs, "Deployment") + of_kind(docs, "StatefulSet"):
        name, spec = workload["metadata"]["name"], workload["spec"]
        replicas = spec.get("replicas", 1)
        found = wait_for(
            f"{replicas} Pod(s) of {workload['kind']} {name}",
            partial(pods, cluster, namespace, spec["selector"]["matchLabels"], replicas),
            dump=partial(cluster.events, namespace),
        )
        for pod in found:
            assert pod["spec"]["containers"][0]["image"] == spec["template"]["spec"]["containers"][0]["image"]
        wanted = {
            f"{claim['metadata']['name']}-{name}-{i}"
            for claim in spec.get("volumeClaimTemplates", [])
            for i in range(replicas)
        }
        wait_for(
            f"the claims {sorted(wanted)} of {name}",
            partial(claims, cluster, namespace, wanted),
            dump=partial(cluster.events, namespace),
        )
    for job in of_kind(docs, "Job"):
        wait_for(
            f"a Pod of Job {job['metadata']['name']}",
            partial(pods, cluster, namespace, {"job-name": job["metadata"]["name"]}),
            dump=partial(cluster.events, namespace),
        )
