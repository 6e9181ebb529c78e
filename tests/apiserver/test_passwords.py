"""The passwords hook (jobs/passwords.py) on a real API server, as its own ServiceAccount: it
makes every planned Secret once, keeps what exists, completes what lacks a key, and may read no
Secret outside its plan."""

from __future__ import annotations

import base64

import yaml

from .kube import CHART, HOOK, Cluster, docs_of, make_passwords

DEFAULTS = CHART / "ci" / "kind-default.yaml"


def decoded(cluster: Cluster, namespace: str, name: str) -> dict[str, str]:
    data = cluster.one("secret", namespace, name)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def test_should_make_every_secret_once_with_one_password_wherever_it_goes(cluster: Cluster, namespace: str) -> None:
    docs = docs_of(cluster.render(namespace, [DEFAULTS]))
    made = make_passwords(cluster, namespace, docs)
    assert made.returncode == 0, made.stderr
    assert made.stdout.count("created secret") == 8, made.stdout
    mysql = decoded(cluster, namespace, "t-tidemark-mysql")
    assert len(set(mysql.values())) == 6 and all(len(p) == 24 for p in mysql.values())
    assert decoded(cluster, namespace, "t-tidemark-mysql-jobs") == {"password": mysql["app-password"]}
    assert decoded(cluster, namespace, "t-tidemark-mysql-debezium") == {"password": mysql["debezium-password"]}
    datasource = decoded(cluster, namespace, "t-tidemark-datasources")["tidemark-datasources.yaml"]
    assert f'password: "{mysql["grafana-password"]}"' in datasource
    labels = cluster.one("secret", namespace, "t-tidemark-datasources")["metadata"]["labels"]
    assert labels["grafana_datasource"] == "1"
    # The release's CA, made once, before anything trusts it: Grafana's datasource quotes it.
    assert "created certificate authority t-tidemark-ca" in made.stdout
    authority = decoded(cluster, namespace, "t-tidemark-ca")
    assert authority["ca.crt"] == authority["tls.crt"] and "PRIVATE KEY" in authority["tls.key"]
    source = yaml.safe_load(datasource)["datasources"][0]
    assert source["secureJsonData"]["tlsCACert"] == authority["ca.crt"]

    # Run again (the next upgrade's hook): nothing changes. A Secret deleted by hand comes back
    # with the same password; one that lost a key gets it back and keeps the rest.
    cluster.ok("delete", "secret", "t-tidemark-mysql-jobs", "-n", namespace)
    cluster.ok("patch", "secret", "t-tidemark-mysql", "-n", namespace, "--type=json",
               "-p", '[{"op": "remove", "path": "/data/migrate-password"}]')  # fmt: skip
    again = make_passwords(cluster, namespace, docs)
    assert again.returncode == 0, again.stderr
    assert "created secret t-tidemark-mysql-jobs" in again.stdout
    assert "added migrate-password to secret t-tidemark-mysql" in again.stdout
    assert decoded(cluster, namespace, "t-tidemark-mysql-jobs") == {"password": mysql["app-password"]}
    after = decoded(cluster, namespace, "t-tidemark-mysql")
    assert {k: v for k, v in after.items() if k != "migrate-password"} == {
        k: v for k, v in mysql.items() if k != "migrate-password"
    }
    assert decoded(cluster, namespace, "t-tidemark-mysql-migrate") == {"password": after["migrate-password"]}
    assert decoded(cluster, namespace, "t-tidemark-ca") == authority, "the CA is made once"


def test_should_let_the_hook_read_its_plans_secrets_only(cluster: Cluster, namespace: str) -> None:
    docs = docs_of(cluster.render(namespace, [DEFAULTS]))
    rbac = [d for d in docs if d["metadata"]["name"] == HOOK and d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    cluster.ok("apply", "--server-side", "-n", namespace, "-f", "-", stdin=yaml.safe_dump_all(rbac))
    me = f"--as=system:serviceaccount:{namespace}:{HOOK}"

    def can(*args: str) -> bool:
        return cluster.kubectl("auth", "can-i", *args, "-n", namespace, me).stdout.strip() == "yes"

    assert can("create", "secrets")
    assert can("get", "secret/t-tidemark-mysql") and can("patch", "secret/t-tidemark-mysql")
    assert can("get", "secret/t-tidemark-ca")
    assert not can("get", "secret/t-tidemark-superuser"), "k8ssandra's superuser Secret is not the hook's"
    assert not can("get", "secret/t-tidemark-connect"), "nor Strimzi's Kafka logins"
    assert not can("list", "secrets") and not can("delete", "secret/t-tidemark-mysql")
