"""A Helm release's whole life on a real API server: install, upgrade with a changed value,
uninstall. Hooks stay off: the migrate Job would never finish without a kubelet."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from .kube import CHART, NOT_OURS, RELEASE, Cluster, docs_of, make_passwords, wait_for

DEFAULTS = CHART / "ci" / "kind-default.yaml"


def inventory(cluster: Cluster, namespace: str) -> set[tuple[str, str]]:
    """(kind, name) of every object in the namespace, of every listable kind but events."""
    kinds = [
        k
        for k in cluster.ok("api-resources", "--verbs=list", "--namespaced", "-o", "name").split()
        if k.split(".")[0] != "events"
    ]
    done = cluster.kubectl("get", ",".join(kinds), "-n", namespace, "-o", "json")
    assert done.returncode == 0, done.stderr
    return {(i["kind"], i["metadata"]["name"]) for i in json.loads(done.stdout)["items"]} - NOT_OURS


def kept_on_purpose(manifest: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """What the chart means to outlive the release: objects with Helm's keep policy, and the
    claims of StatefulSets (their data; Kubernetes retains them unless told otherwise)."""
    kept = {
        (d["kind"], d["metadata"]["name"])
        for d in manifest
        if d["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"
    }
    for d in manifest:
        if (
            d["kind"] == "StatefulSet"
            and d["spec"].get("persistentVolumeClaimRetentionPolicy", {}).get("whenDeleted", "Retain") == "Retain"
        ):
            for claim in d["spec"].get("volumeClaimTemplates", []):
                for i in range(d["spec"]["replicas"]):
                    kept.add(("PersistentVolumeClaim", f"{claim['metadata']['name']}-{d['metadata']['name']}-{i}"))
    return kept


def leftovers(cluster: Cluster, namespace: str, expected: set[tuple[str, str]]) -> set[tuple[str, str]] | None:
    found = inventory(cluster, namespace)
    return found if found == expected else None


def test_should_install_upgrade_and_uninstall_leaving_only_what_the_chart_keeps(
    cluster: Cluster, namespace: str
) -> None:
    release = ["--namespace", namespace, "--no-hooks", "--values", str(DEFAULTS)]
    made = make_passwords(cluster, namespace, docs_of(cluster.render(namespace, [DEFAULTS])))
    assert made.returncode == 0, made.stderr
    installed = cluster.helm("install", RELEASE, str(CHART), *release)
    assert installed.returncode == 0 and "Warning" not in installed.stderr, installed.stderr
    manifest = docs_of(cluster.helm("get", "manifest", RELEASE, "--namespace", namespace).stdout)
    assert {(d["kind"], d["metadata"]["name"]) for d in manifest} <= inventory(cluster, namespace)
    passwords = cluster.one("secret", namespace, "t-tidemark-mysql")["data"]
    generated = {
        ("Secret", s["metadata"]["name"]) for s in cluster.get("secret", namespace, "-l", "tidemark.io/passwords-of=t")
    }
    assert generated == {
        ("Secret", f"t-tidemark-{name}")
        for name in (
            *("mysql", "mysql-jobs", "mysql-producer", "mysql-migrate", "mysql-debezium"),
            *("cassandra-app", "datasources", "stores", "ca"),
        )
    }
    assert kept_on_purpose(manifest) == {
        ("PersistentVolumeClaim", "t-tidemark-checkpoints"),
        ("PersistentVolumeClaim", "data-t-tidemark-mysql-0"),
    }
    kept = kept_on_purpose(manifest) | generated  # the passwords outlive the release, as the data they open
    wait_for(
        "the StatefulSet's claim",
        lambda: kept <= inventory(cluster, namespace),
        dump=lambda: f"expected {sorted(kept)}, found {sorted(inventory(cluster, namespace))}",
    )

    again = make_passwords(cluster, namespace, docs_of(cluster.render(namespace, [DEFAULTS])))  # the pre-upgrade hook
    assert again.returncode == 0 and "created" not in again.stdout, again.stdout
    upgraded = cluster.helm("upgrade", RELEASE, str(CHART), *release, "--set", "producer.rate=7")
    assert upgraded.returncode == 0 and "Warning" not in upgraded.stderr, upgraded.stderr
    history = json.loads(cluster.helm("history", RELEASE, "--namespace", namespace, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]
    assert cluster.one("configmap", namespace, "t-tidemark-producer")["data"]["TIDEMARK_PRODUCER_RATE"] == "7"
    # No render holds a password, and the hook keeps what exists: an upgrade changes none.
    assert cluster.one("secret", namespace, "t-tidemark-mysql")["data"] == passwords

    uninstalled = cluster.helm("uninstall", RELEASE, "--namespace", namespace)
    assert uninstalled.returncode == 0, uninstalled.stderr
    # The garbage collector removes the ReplicaSets, Pods and EndpointSlices shortly after.
    wait_for(
        "the namespace to hold only what the chart keeps",
        partial(leftovers, cluster, namespace, kept),
        dump=lambda: f"expected {sorted(kept)}, found {sorted(inventory(cluster, namespace))}",
    )
