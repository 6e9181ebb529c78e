"""`python -m jobs.passwords`: makes the release's generated Secrets in the cluster, once.

The chart never renders a password: `helm template`, `--dry-run` and `upgrade` would each have
made new ones (Helm's `lookup` sees no cluster there), and a GitOps tool rendering the chart on
every sync would rotate them all. Instead the chart's pre-install/pre-upgrade hook runs this
with a plan (TIDEMARK_PASSWORDS_PLAN, JSON): the Secrets to make, their labels, and each key's
value as a template in which `${password:NAME}` stands for one generated password. A password
already stored under a key that is exactly `${password:NAME}` is reused, so every Secret naming
NAME gets the same value; a Secret that exists keeps every key it has and only gains the keys
it lacks. Running it again changes nothing.

In a pod it talks to the API server with the pod's ServiceAccount; TIDEMARK_KUBE_API,
TIDEMARK_KUBE_TOKEN_FILE and TIDEMARK_KUBE_CA_FILE point it elsewhere.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import ssl
import string
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\$\{password:([a-z0-9-]+)\}")
ALPHABET = string.ascii_letters + string.digits
LENGTH = 24
SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"

Live = Mapping[str, Mapping[str, str]]  # Secret name -> its data, decoded


@dataclass(frozen=True)
class Planned:
    name: str
    labels: dict[str, str]
    data: dict[str, str]  # key -> template


@dataclass(frozen=True)
class Source:
    """A password kept in a Secret of the user's own (an `existingSecret`): read, never written."""

    password: str
    secret: str
    key: str


def parse_plan(raw: str) -> tuple[str, list[Planned], list[Source]]:
    plan = json.loads(raw)
    secrets_ = [Planned(s["name"], s.get("labels", {}), s["data"]) for s in plan["secrets"]]
    sources = [Source(s["password"], s["secret"], s["key"]) for s in plan.get("sources", [])]
    return plan["namespace"], secrets_, sources


def known_passwords(plan: list[Planned], live: Live, sources: Sequence[Source]) -> dict[str, str]:
    """The passwords already stored: in the user's Secrets, or under a key of ours whose template
    is exactly one placeholder."""
    known: dict[str, str] = {}
    for source in sources:
        if source.key in live.get(source.secret, {}):
            known.setdefault(source.password, live[source.secret][source.key])
    for secret in plan:
        for key, template in secret.data.items():
            whole = PLACEHOLDER.fullmatch(template)
            if whole and key in live.get(secret.name, {}):
                known.setdefault(whole.group(1), live[secret.name][key])
    return known


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def passwords_for(plan: list[Planned], live: Live, sources: Sequence[Source]) -> dict[str, str]:
    known = known_passwords(plan, live, sources)
    wanted = {name for s in plan for t in s.data.values() for name in PLACEHOLDER.findall(t)}
    return {name: known.get(name) or generate() for name in sorted(wanted)}


def fill(template: str, passwords: Mapping[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: passwords[m.group(1)], template)


def changes(plan: list[Planned], live: Live, passwords: Mapping[str, str]) -> list[tuple[str, Planned, dict[str, str]]]:
    """What to write: ("create", secret, data) for a missing Secret, ("add", secret, keys) for one
    that lacks keys. A key that exists is never rewritten."""
    out = []
    for secret in plan:
        if secret.name not in live:
            out.append(("create", secret, {k: fill(t, passwords) for k, t in secret.data.items()}))
            continue
        missing = {k: fill(t, passwords) for k, t in secret.data.items() if k not in live[secret.name]}
        if missing:
            out.append(("add", secret, missing))
    return out


def encoded(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


class Api:
    """Just enough of the Kubernetes API: get, create and merge-patch a Secret."""

    def __init__(self, namespace: str) -> None:
        self.base = os.environ.get("TIDEMARK_KUBE_API", "https://kubernetes.default.svc")
        token_file = os.environ.get("TIDEMARK_KUBE_TOKEN_FILE", f"{SERVICE_ACCOUNT}/token")
        with open(token_file) as f:
            self.token = f.read().strip()
        self.tls = ssl.create_default_context(
            cafile=os.environ.get("TIDEMARK_KUBE_CA_FILE", f"{SERVICE_ACCOUNT}/ca.crt")
        )
        self.secrets = f"{self.base}/api/v1/namespaces/{namespace}/secrets"

    def call(self, method: str, url: str, body: dict[str, Any] | None = None, kind: str = "json") -> Any:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": f"application/{'merge-patch+json' if kind == 'merge' else 'json'}",
            },
        )
        with urllib.request.urlopen(request, context=self.tls, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def data(self, name: str) -> dict[str, str] | None:
        try:
            secret = self.call("GET", f"{self.secrets}/{name}")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def create(self, secret: Planned, data: Mapping[str, str]) -> None:
        metadata = {"name": secret.name, "labels": secret.labels}
        self.call(
            "POST",
            self.secrets,
            {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque", "data": encoded(data)},
        )

    def add(self, secret: Planned, data: Mapping[str, str]) -> None:
        self.call("PATCH", f"{self.secrets}/{secret.name}", {"data": encoded(data)}, kind="merge")


def main() -> int:
    raw = os.environ.get("TIDEMARK_PASSWORDS_PLAN", "")
    if not raw:
        sys.exit("TIDEMARK_PASSWORDS_PLAN is required: the Secrets to make, as JSON")
    namespace, plan, sources = parse_plan(raw)
    api = Api(namespace)
    names = {s.name for s in plan} | {s.secret for s in sources}
    live = {name: data for name in sorted(names) if (data := api.data(name)) is not None}
    missing = sorted({s.secret for s in sources} - set(live))
    if missing:
        sys.exit(f"passwords: the Secret(s) {', '.join(missing)} named in *.existingSecret do not exist")
    ours = {s.name: live[s.name] for s in plan if s.name in live}
    for action, secret, data in changes(plan, ours, passwords_for(plan, live, sources)):
        getattr(api, action)(secret, data)
        print(f"{'created' if action == 'create' else 'added ' + ', '.join(sorted(data)) + ' to'} secret {secret.name}")
    print(f"passwords: {len(plan)} secrets in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
