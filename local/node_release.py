"""tidemark's chart on the local node (local/node.py): release `tidemark` in namespace
`tidemark`, its Pods running tidemark's own images against the local stack's real servers
through the chart's external stores (charts/tidemark/ci/node.yaml).

    python local/node_release.py deploy [--fresh] | remove

`deploy` starts the node, builds the images (as `make images`) and imports them into the
node's containerd, creates what the chart expects to find (the stream topics and their ACLs,
Debezium's connector for the release's recruit database, the namespace, the Secrets the values
name, a host-path volume for the checkpoints' claim), then `helm upgrade --install --wait`.
`--fresh` removes an earlier release and its data first. `remove` uninstalls it and drops what
it wrote: the keyspace, databases and topics named after RUN (local/cleanup.py).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from local import apiserver, cleanup, debezium, kafka_users, node, stack, supervisor, tls, topics  # noqa: E402

RELEASE = NAMESPACE = "tidemark"
CHART = ROOT / "charts" / "tidemark"
VALUES = CHART / "ci" / "node.yaml"
# The release's keyspace, databases (RUN, RUN_recruit, RUN_shop) and topics (RUN.*), as
# ci/node.yaml names them: local/cleanup.py drops them all by this one name.
RUN = "node"
CHECKPOINTS = node.NODE / "volumes" / "checkpoints"
JOBS_UID = 10185  # the jobs image's user, who writes the checkpoints
IMAGES = ("producer", "jobs")
HELM = ROOT / "bin" / "helm"


class ReleaseError(Exception):
    pass


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(VALUES.read_text())
    return loaded


def version() -> str:
    chart: dict[str, Any] = yaml.safe_load((CHART / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def endpoints() -> dict[str, Any]:
    """Where this machine's stack and API server listen (ci/node.yaml carries the defaults; a
    stack moved by TIDEMARK_*_PORT is followed here)."""
    return {
        "kubernetesApi": apiserver.SERVER,
        "kafka": {"external": {"bootstrapServers": f"{stack.HOST}:{stack.PORTS['kafka']}"}},
        "cassandra": {"external": {"hosts": stack.HOST, "port": stack.PORTS["cassandra"]}},
        "mysql": {"external": {"host": stack.HOST, "port": stack.PORTS["mariadb"]}},
        "pushgateway": {"address": f"{stack.HOST}:{stack.PORTS['pushgateway']}"},
    }


def run(argv: list[str], what: str, timeout: float = 900) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise ReleaseError(f"{what} failed ({' '.join(argv[:3])} …):\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}")
    return done.stdout


def helm(*args: str, timeout: float = 900) -> str:
    return run([str(HELM), "--kubeconfig", str(apiserver.KUBECONFIG), *args], f"helm {args[0]}", timeout)


def kubectl(*args: str, stdin: str | None = None) -> str:
    return node.kubectl(*args, stdin=stdin).stdout


# --- what the chart expects to find ----------------------------------------------------------


def images() -> None:
    """The images as `make images` builds them, then into the node under the names the chart's
    Pods ask for (no registry: global.imagePullPolicy Never)."""
    t0 = time.monotonic()
    run([str(ROOT / "scripts" / "images.sh"), "build"], "building the images", timeout=3600)
    print(f"{'images':24} built in {time.monotonic() - t0:.0f}s", flush=True)
    for image in IMAGES:
        name = f"tidemark/{image}:{version()}"
        node.import_image(f"localhost/{name}", f"docker.io/{name}")


def stream_topics(chart_values: dict[str, Any]) -> list[str]:
    found = []
    for stream in chart_values["streams"].values():
        found += list(stream["topics"].values()) if "topics" in stream else [stream["topic"]]
    return found


def cdc(chart_values: dict[str, Any]) -> None:
    """The Debezium connector the release's dims reads: the local Connect as the user's own
    (kafkaConnect.external), watching the release's recruit database."""
    prefix = chart_values["kafkaConnect"]["connector"]["topicPrefix"]
    database = chart_values["mysql"]["recruitDatabase"]
    debezium.grant(prefix)
    connector = debezium.config(database, prefix, server_id=chart_values["kafkaConnect"]["connector"]["serverId"])
    debezium.register(name=f"{RUN}-recruit", connector=connector)


def secrets(chart_values: dict[str, Any]) -> list[dict[str, Any]]:
    """The Secrets ci/node.yaml names, holding the local stack's accounts."""
    from jobs.settings import JobSettings

    jobs_role = JobSettings.model_fields["cassandra_username"].default
    jobs_password = JobSettings.model_fields["cassandra_password"].default.get_secret_value()
    kafka = chart_values["kafka"]["external"]["users"]
    kafka_ca = chart_values["kafka"]["external"]["caSecret"]
    cassandra = chart_values["cassandra"]["external"]
    auth = chart_values["mysql"]["auth"]
    # The stack's own CA, which the Pods verify its broker, MariaDB and Cassandra with (Spark's
    # connector from the truststore).
    stores_ca: dict[str, str | bytes] = {
        "ca.crt": tls.CA.read_text(),
        "truststore.p12": tls.TRUSTSTORE.read_bytes(),
        "truststore-password": tls.TRUSTSTORE_PASSWORD,
    }
    data: dict[str, dict[str, str | bytes]] = {
        kafka_ca["name"]: {kafka_ca["key"]: tls.CA.read_text()},
        chart_values["mysql"]["external"]["caSecret"]: stores_ca,
        cassandra["caSecret"]: stores_ca,
        kafka["producer"]["existingSecret"]: {"password": kafka_users.password(kafka_users.PRODUCER)},
        kafka["jobs"]["existingSecret"]: {"password": kafka_users.password(kafka_users.JOBS)},
        cassandra["existingSecret"]: {"username": jobs_role, "password": jobs_password},
        cassandra["adminSecret"]: {"username": stack.CASSANDRA_ADMIN, "password": stack.CASSANDRA_ADMIN_PASSWORD},
        auth["existingSecret"]: {
            # The stack's MariaDB has no root login over TCP; the owner stands in for it.
            "root-password": stack.OWNER_PASSWORD,
            "app-password": stack.APP_PASSWORD,
            "producer-password": stack.PRODUCER_PASSWORD,
            "migrate-password": stack.OWNER_PASSWORD,
            "debezium-password": stack.DEBEZIUM_PASSWORD,
            "grafana-password": stack.GRAFANA_PASSWORD,
        },
        auth["existingSecrets"]["jobs"]: {"password": stack.APP_PASSWORD},
        auth["existingSecrets"]["producer"]: {"password": stack.PRODUCER_PASSWORD},
        auth["existingSecrets"]["migrate"]: {"password": stack.OWNER_PASSWORD},
    }
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "type": "Opaque", "data": encoded(d)}
        for name, d in data.items()
    ]


def encoded(data: dict[str, str | bytes]) -> dict[str, str]:
    """A Secret's data: every value base64, as a truststore's bytes must be."""
    return {key: base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for key, v in data.items()}


def namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            # Host networking (every Pod here: the node's only network is loopback) is forbidden
            # by the baseline and restricted levels. The apiserver tier keeps proving that the
            # chart's default render is admitted under restricted.
            "labels": {"pod-security.kubernetes.io/enforce": "privileged"},
        },
    }


def checkpoints_volume(chart_values: dict[str, Any]) -> dict[str, Any]:
    """A host-path volume bound in advance to the chart's checkpoints claim: the node has no
    storage provisioner, and the volume binder matches the claim to it."""
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    os.chown(CHECKPOINTS, JOBS_UID, JOBS_UID)
    checkpoints = chart_values.get("jobs", {}).get("checkpoints", {})
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"{RELEASE}-node-checkpoints"},
        "spec": {
            "capacity": {"storage": checkpoints.get("size", "1Gi")},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(CHECKPOINTS), "type": "Directory"},
            "claimRef": {"namespace": NAMESPACE, "name": f"{RELEASE}-checkpoints"},
        },
    }


# --- deploy, remove --------------------------------------------------------------------------


def install(extra: dict[str, Any] | None = None, timeout: str = "10m") -> str:
    """`helm upgrade --install` with ci/node.yaml, this machine's endpoints and `extra`, then
    every Deployment Available. Not `--wait`: that would hold the post-install migrate hook
    until every Pod is Ready, and the producers and ingest need migrate's tables first. Helm
    waits for its hooks (passwords, migrate) in any case."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as overrides:
        yaml.safe_dump(merged(endpoints(), extra or {}), overrides)
        overrides.flush()
        out = helm(
            "upgrade", "--install", RELEASE, str(CHART), "--namespace", NAMESPACE,
            "--values", str(VALUES), "--values", overrides.name, "--timeout", timeout,
        )  # fmt: skip
    for deployment in kubectl("get", "deployments", "-n", NAMESPACE, "-o", "name").split():
        kubectl("rollout", "status", "-n", NAMESPACE, deployment, f"--timeout={timeout}")
    return out


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def deploy(fresh: bool = False) -> None:
    if fresh:
        remove()
    node.up()
    chart_values = values()
    images()
    t0 = time.monotonic()
    topics.ensure(f"{stack.HOST}:{stack.PORTS['kafka']}", stream_topics(chart_values))
    cdc(chart_values)
    manifest = [namespace(), checkpoints_volume(chart_values)]
    kubectl("apply", "--server-side", "--field-manager=tidemark-node", "-f", "-", stdin=yaml.safe_dump_all(manifest))
    kubectl(
        "apply", "--server-side", "--field-manager=tidemark-node", "-n", NAMESPACE, "-f", "-",
        stdin=yaml.safe_dump_all(secrets(chart_values)),
    )  # fmt: skip
    install()
    print(f"{'release ' + RELEASE:24} deployed in {time.monotonic() - t0:.0f}s (namespace {NAMESPACE})", flush=True)


def remove() -> None:
    """Uninstalls the release, deletes its namespace and volume, and drops its data."""
    if apiserver.PROCESSES[1].pid() is not None:  # the API server
        listed = json.loads(helm("list", "--namespace", NAMESPACE, "--output", "json"))
        if any(r["name"] == RELEASE for r in listed):
            helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "5m")
        # Pods a stopped node left behind would stay Terminating for good (no kubelet confirms
        # them gone), and hold the namespace, its claim and the volume: the namespace is this
        # tier's own, so they are deleted without waiting.
        node.kubectl(
            "delete", "pods", "--all", "-n", NAMESPACE, "--force", "--grace-period=0", "--ignore-not-found",
            check=False,
        )  # fmt: skip
        node.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--timeout=180s", check=False)
        node.kubectl("delete", "persistentvolume", f"{RELEASE}-node-checkpoints", "--ignore-not-found", check=False)
    shutil.rmtree(CHECKPOINTS, ignore_errors=True)
    debezium.remove(f"{RUN}-recruit")
    cleanup.drop([RUN])
    print(f"{'release ' + RELEASE:24} removed with its data ({RUN}: keyspace, databases, topics)", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="local/node_release.py", description=__doc__)
    parser.add_argument("command", choices=("deploy", "remove"))
    parser.add_argument("--fresh", action="store_true", help="remove an earlier release and its data first")
    args = parser.parse_args(argv)
    try:
        if args.command == "deploy":
            deploy(fresh=args.fresh)
        else:
            remove()
    except (ReleaseError, node.NodeError, supervisor.SupervisorError) as e:
        print(f"node-deploy: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
