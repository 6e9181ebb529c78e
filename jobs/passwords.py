"""`python -m jobs.passwords`: makes the release's generated Secrets in the cluster, once.

The chart never renders a password: `helm template`, `--dry-run` and `upgrade` would each have
made new ones (Helm's `lookup` sees no cluster there), and a GitOps tool rendering the chart on
every sync would rotate them all. Instead the chart's pre-install/pre-upgrade hook runs this
with a plan (TIDEMARK_PASSWORDS_PLAN, JSON): the Secrets to make, their labels, and each key's
value as a template in which `${password:NAME}` stands for one generated password. A password
already stored under a key that is exactly `${password:NAME}` is reused, so every Secret naming
NAME gets the same value; a Secret that exists keeps every key it has and only gains the keys
it lacks. Running it again changes nothing.

The plan may also name an `authority`: the release's certificate authority, a Secret (tls.crt,
tls.key, ca.crt) made once here, so it exists before anything that trusts it. cert-manager's CA
Issuer signs the stores' server certificates with it, and a template may quote its certificate
as `${ca}` (a JSON string, which is YAML too): Grafana's datasource verifies MySQL with it.

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
CA_PLACEHOLDER = "${ca}"
AUTHORITY_DAYS = 3650  # the CA outlives the release's servers' certificates, which cert-manager renews
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


@dataclass(frozen=True)
class Authority:
    """The release's CA: a Secret of that name, its certificate's subject CN."""

    name: str
    labels: dict[str, str]
    common_name: str


def parse_plan(raw: str) -> tuple[str, list[Planned], list[Source]]:
    plan = json.loads(raw)
    secrets_ = [Planned(s["name"], s.get("labels", {}), s["data"]) for s in plan["secrets"]]
    sources = [Source(s["password"], s["secret"], s["key"]) for s in plan.get("sources", [])]
    return plan["namespace"], secrets_, sources


def parse_authority(raw: str) -> Authority | None:
    found = json.loads(raw).get("authority")
    return Authority(found["name"], found.get("labels", {}), found["commonName"]) if found else None


def make_authority(common_name: str) -> dict[str, str]:
    """A new CA: its key and self-signed certificate, as PEM under the keys cert-manager's CA
    Issuer reads (ca.crt repeats the certificate for clients)."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=AUTHORITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {"tls.crt": pem, "tls.key": private, "ca.crt": pem}


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


def fill(template: str, passwords: Mapping[str, str], ca: str = "") -> str:
    filled = PLACEHOLDER.sub(lambda m: passwords[m.group(1)], template)
    return filled.replace(CA_PLACEHOLDER, json.dumps(ca)) if CA_PLACEHOLDER in filled else filled


def changes(
    plan: list[Planned], live: Live, passwords: Mapping[str, str], ca: str = ""
) -> list[tuple[str, Planned, dict[str, str]]]:
    """What to write: ("create", secret, data) for a missing Secret, ("add", secret, keys) for one
    that lacks keys. A key that exists is never rewritten. `ca` is the authority's certificate."""
    out = []
    for secret in plan:
        if secret.name not in live:
            out.append(("create", secret, {k: fill(t, passwords, ca) for k, t in secret.data.items()}))
            continue
        missing = {k: fill(t, passwords, ca) for k, t in secret.data.items() if k not in live[secret.name]}
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
    authority = parse_authority(raw)
    api = Api(namespace)
    ca = ""
    if authority is not None:
        held = api.data(authority.name)
        if held is None:
            held = make_authority(authority.common_name)
            api.create(Planned(authority.name, authority.labels, {}), held)
            print(f"created certificate authority {authority.name}")
        ca = held["ca.crt"]
    names = {s.name for s in plan} | {s.secret for s in sources}
    live = {name: data for name in sorted(names) if (data := api.data(name)) is not None}
    missing = sorted({s.secret for s in sources} - set(live))
    if missing:
        sys.exit(f"passwords: the Secret(s) {', '.join(missing)} named in *.existingSecret do not exist")
    ours = {s.name: live[s.name] for s in plan if s.name in live}
    for action, secret, data in changes(plan, ours, passwords_for(plan, live, sources), ca):
        getattr(api, action)(secret, data)
        print(f"{'created' if action == 'create' else 'added ' + ', '.join(sorted(data)) + ' to'} secret {secret.name}")
    print(f"passwords: {len(plan)} secrets in place")
    return 0


if __name__ == "__main__":
    sys.exit(main())
