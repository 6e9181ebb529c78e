"""render_chart: `helm template` the chart with given values and parse the objects."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tidemark"
HELM = ROOT / "bin" / "helm"
# What an installed operator adds to the API server; without them the chart refuses.
OPERATOR_APIS = (
    "kafka.strimzi.io/v1/Kafka",
    "kafka.strimzi.io/v1/KafkaConnect",
    "k8ssandra.io/v1alpha1/K8ssandraCluster",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "cert-manager.io/v1/Issuer",
)


class RenderError(Exception):
    pass


def render_chart(
    values: dict[str, Any] | None = None,
    show_only: list[str] | None = None,
    values_files: list[Path] | None = None,
    api_versions: tuple[str, ...] = OPERATOR_APIS,
    kube_version: str = "1.35.0",
    *,
    release: str = "t",
    namespace: str = "tidemark",
) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
        yaml.safe_dump(values or {}, extra)
        cmd = [str(HELM), "template", release, str(CHART), "--namespace", namespace, "--kube-version", kube_version]
        for f in values_files or []:
            cmd += ["--values", str(f)]
        cmd += ["--values", extra.name]
        for api in api_versions:
            cmd += ["--api-versions", api]
        for template in show_only or []:
            cmd += ["--show-only", template]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every workload we render."""
    out = []
    for d in docs:
        spec = d.get("spec", {})
        if d["kind"] == "CronJob":
            out.append((d["metadata"]["name"], spec["jobTemplate"]["spec"]["template"]["spec"]))
        elif d["kind"] in ("Deployment", "StatefulSet", "Job"):
            out.append((d["metadata"]["name"], spec["template"]["spec"]))
    return out


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


SECRETS_DIR = "/etc/tidemark/secrets"  # where a process reads its secret settings (wire/env.py)


def settings_of(container: dict[str, Any], pod: dict[str, Any]) -> dict[str, Any]:
    """A container's settings: its env, and each file of the secrets volume it mounts as
    {"secretKeyRef": {"name", "key"}}, named as the variable it stands for."""
    settings = {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
    mounted = {m["name"] for m in container.get("volumeMounts", []) if m["mountPath"] == SECRETS_DIR}
    for volume in pod.get("volumes", []):
        if volume["name"] in mounted:
            for source in volume["projected"]["sources"]:
                for item in source["secret"]["items"]:
                    settings[item["path"]] = {"secretKeyRef": {"name": source["secret"]["name"], "key": item["key"]}}
    return settings
