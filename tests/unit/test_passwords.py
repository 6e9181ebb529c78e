from __future__ import annotations

import json
import ssl
from datetime import timedelta
from pathlib import Path

import yaml
from cryptography import x509

from jobs.passwords import changes, make_authority, parse_plan, passwords_for

PLAN = json.dumps(
    {
        "namespace": "ns",
        "secrets": [
            {"name": "db", "data": {"root-password": "${password:root}", "app-password": "${password:app}"}},
            {"name": "db-app", "labels": {"a": "b"}, "data": {"password": "${password:app}"}},
            {"name": "grafana", "data": {"ds.yaml": 'user: g\npassword: "${password:grafana}"\n'}},
        ],
        "sources": [{"password": "grafana", "secret": "mine", "key": "grafana-password"}],
    }
)


def test_should_make_each_password_once_and_put_it_wherever_it_is_named() -> None:
    _, plan, sources = parse_plan(PLAN)
    passwords = passwords_for(plan, {}, sources)
    assert set(passwords) == {"root", "app", "grafana"}
    assert all(len(p) == 24 and p.isalnum() for p in passwords.values())
    made = {secret.name: data for action, secret, data in changes(plan, {}, passwords) if action == "create"}
    assert made["db-app"] == {"password": made["db"]["app-password"]}
    assert made["grafana"]["ds.yaml"] == f'user: g\npassword: "{passwords["grafana"]}"\n'


def test_should_keep_what_exists_and_only_add_what_is_missing() -> None:
    _, plan, sources = parse_plan(PLAN)
    live = {"db": {"app-password": "kept"}, "db-app": {"password": "kept"}, "mine": {"grafana-password": "theirs"}}
    passwords = passwords_for(plan, live, sources)
    assert passwords["app"] == "kept" and passwords["grafana"] == "theirs"
    todo = [(action, secret.name, data) for action, secret, data in changes(plan, live, passwords)]
    assert todo == [
        ("add", "db", {"root-password": passwords["root"]}),
        ("create", "grafana", {"ds.yaml": 'user: g\npassword: "theirs"\n'}),
    ]
    assert (
        changes(
            plan,
            {
                "db": {"root-password": "r", "app-password": "a"},
                "db-app": {"password": "a"},
                "grafana": {"ds.yaml": "x"},
            },
            passwords,
        )
        == []
    ), "a second run changes nothing"


def test_should_make_a_certificate_authority_that_signs_and_is_trusted(tmp_path: Path) -> None:
    made = make_authority("t-tidemark CA")
    assert made["ca.crt"] == made["tls.crt"]
    certificate = x509.load_pem_x509_certificate(made["ca.crt"].encode())
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert certificate.subject.rfc4514_string() == "CN=t-tidemark CA"
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc > timedelta(days=3000)
    # The key signs for the certificate: a server certificate it signs verifies against ca.crt.
    (tmp_path / "ca.crt").write_text(made["ca.crt"])
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    assert context.get_ca_certs()[0]["subject"] == ((("commonName", "t-tidemark CA"),),)


def test_should_quote_the_authoritys_certificate_where_a_template_names_it() -> None:
    _, plan, _ = parse_plan(
        json.dumps({"namespace": "ns", "secrets": [{"name": "ds", "data": {"ds.yaml": "tlsCACert: ${ca}\n"}}]})
    )
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    [(_, _, data)] = changes(plan, {}, {}, pem)
    assert yaml.safe_load(data["ds.yaml"]) == {"tlsCACert": pem}
