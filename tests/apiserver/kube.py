"""A real API server for the chart: ./bin/kubectl and ./bin/helm pointed at the control plane
local/apiserver.py runs, fresh namespaces, and waiting on conditions with a deadline."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "tidemark"
SCENARIOS = sorted((CHART / "ci").glob("*.yaml"))
# Every scenario is applied where the restricted Pod Security level is enforced, the proof that
# the chart's Pods need no privilege, but ci/node.yaml: it is for a node whose only network is
# loopback, where every Pod runs on the host network, which the baseline and restricted levels
# forbid. Its namespace enforces privileged, as the node's does (local/node_release.py).
PRIVILEGED_SCENARIOS = {"node"}
HELM = ROOT / "bin" / "helm"
KUBECTL = ROOT / "bin" / "kubectl"
RELEASE = "t"
# Made by the control plane in every namespace, not by the chart.
NOT_OURS = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}

T = TypeVar("T")


class KubeError(Exception):
    pass


@dataclass(frozen=True)
class Cluster:
    kubeconfig: Path

    def run(self, tool: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tool), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(KUBECTL, *args, stdin=stdin)

    def helm(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(HELM, *args)

    def ok(self, *args: str, stdin: str | None = None) -> str:
        """kubectl that must succeed without a single warning from the server."""
        done = self.kubectl(*args, stdin=stdin)
        assert done.returncode == 0 and "Warning" not in done.stderr, f"kubectl {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def get(self, kind: str, namespace: str, *selector: str) -> list[dict[str, Any]]:
        done = self.kubectl("get", kind, "-n", namespace, "-o", "json", *selector)
        if done.returncode != 0:
            raise KubeError(done.stderr)
        return list(json.loads(done.stdout)["items"])

    def one(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        done = self.kubectl("get", kind, name, "-n", namespace, "-o", "json")
        if done.returncode != 0:
            raise KubeError(done.stderr)
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def render(self, namespace: str, values_files: list[Path], values: dict[str, Any] | None = None) -> str:
        """`helm template --dry-run=server`: Capabilities and lookups come from the live server."""
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as extra:
            yaml.safe_dump(values or {}, extra)
            extra.flush()
            args = ["template", RELEASE, str(CHART), "--namespace", namespace, "--dry-run=server"]
            for f in [*values_files, Path(extra.name)]:
                args += ["--values", str(f)]
            done = self.helm(*args)
        if done.returncode != 0:
            raise KubeError(done.stderr)
        return done.stdout

    def apply(
        self, namespace: str, values_files: list[Path], values: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Renders and applies the chart for real (server-side, strict fields); gives what it rendered."""
        manifest = self.render(namespace, values_files, values)
        self.ok("apply", "--server-side", "--field-manager=tidemark-tests", "-n", namespace, "-f", "-", stdin=manifest)
        return docs_of(manifest)

    def served(self, api_version: str) -> set[str]:
        """The kinds the server serves under `api_version` (discovery, as helm's Capabilities see it)."""
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        done = self.kubectl("get", "--raw", path)
        return {r["kind"] for r in json.loads(done.stdout)["resources"]} if done.returncode == 0 else set()

    def events(self, namespace: str) -> str:
        return self.kubectl("get", "events", "-n", namespace, "--sort-by=.lastTimestamp").stdout

    @contextmanager
    def namespace(self, prefix: str = "t", level: str = "restricted") -> Iterator[str]:
        """A fresh namespace that enforces (and warns about) a Pod Security level."""
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        self.ok("create", "namespace", name)
        self.ok(
            "label",
            "namespace",
            name,
            f"pod-security.kubernetes.io/enforce={level}",
            # Enforce checks only Pods; warn also checks the Deployments, StatefulSets and
            # CronJobs at apply time, so a violation shows up in the apply's warnings.
            f"pod-security.kubernetes.io/warn={level}",
        )
        try:
            yield name
        finally:
            self.kubectl("delete", "namespace", name, "--wait=false")


def pod_security(scenario: Path | None) -> str:
    """The Pod Security level a scenario's namespace enforces (restricted unless it cannot be)."""
    return "privileged" if scenario is not None and scenario.stem in PRIVILEGED_SCENARIOS else "restricted"


HOOK = f"{RELEASE}-tidemark-passwords"


def make_passwords(cluster: Cluster, namespace: str, docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    """What the chart's passwords hook does, for real and as its ServiceAccount: its RBAC applied,
    `python -m jobs.passwords` run with the Job's plan and that account's token, the RBAC
    deleted after (as Helm deletes a hook that succeeded). Tests install with --no-hooks: a hook
    Job would never finish without a kubelet."""
    import os
    import sys

    from local import apiserver

    hooks = [d for d in docs if d["metadata"]["name"] == HOOK]
    rbac = [d for d in hooks if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    job = next(d for d in hooks if d["kind"] == "Job")
    plan = next(e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"])
    cluster.ok("apply", "--server-side", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(rbac))
    try:
        token = cluster.ok("create", "token", HOOK, "-n", namespace, "--duration=10m").strip()
        with tempfile.NamedTemporaryFile("w", suffix=".token") as token_file:
            token_file.write(token)
            token_file.flush()
            return subprocess.run(
                [sys.executable, "-m", "jobs.passwords"],
                cwd=ROOT,
                env={
                    **os.environ,
                    "TIDEMARK_PASSWORDS_PLAN": plan,
                    "TIDEMARK_KUBE_API": apiserver.SERVER,
                    "TIDEMARK_KUBE_TOKEN_FILE": token_file.name,
                    "TIDEMARK_KUBE_CA_FILE": str(apiserver.PKI / "ca.crt"),
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
    finally:
        for d in rbac:
            cluster.kubectl("delete", d["kind"].lower(), HOOK, "-n", namespace, "--wait=false")


def docs_of(manifest: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(manifest) if d]


def wait_for(what: str, condition: Callable[[], T | None], dump: Callable[[], str], timeout_s: float = 60) -> T:
    """Polls `condition` until it gives a value; on the deadline fails with what a person would look at."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = condition()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f}s\n{dump()}")
        time.sleep(0.5)
