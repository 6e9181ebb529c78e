"""The stores' CAs: every client of an external MySQL or Cassandra that has one verifies it."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from .helm_template import CHART, OPERATOR_APIS, RenderError, by_kind, named, pod_specs, render_chart, settings_of

CI = CHART / "ci"
CA_DIR = "/etc/tidemark/ca"
STORES_PASSWORD = {"name": "t-tidemark-stores", "key": "truststore-password"}


def ca_files(pod: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The files of a pod's CA volume: path -> (Secret, key)."""
    volume = next((v for v in pod["volumes"] if v["name"] == "ca"), {"projected": {"sources": []}})
    return {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in volume["projected"]["sources"]
        for item in source["secret"]["items"]
    }


def test_should_verify_an_external_mysql_and_cassandra_in_every_client() -> None:
    docs = render_chart(values_files=[CI / "external-stores.yaml"], api_versions=())
    checked = 0
    for name, pod in pod_specs(docs):
        for container in pod["containers"]:
            command = container.get("command", [])[:3]
            if command[:2] != ["python", "-m"] or command[2] == "jobs.passwords":
                continue
            settings = settings_of(container, pod)
            assert settings["TIDEMARK_MYSQL_CA_FILE"] == f"{CA_DIR}/mysql.crt", name
            assert ca_files(pod)["mysql.crt"] == ("mysql-ca", "ca.crt")
            if command[2] == "producer":
                assert "TIDEMARK_CASSANDRA_CA_FILE" not in settings
                continue
            assert settings["TIDEMARK_CASSANDRA_CA_FILE"] == f"{CA_DIR}/cassandra.crt", name
            assert settings["TIDEMARK_CASSANDRA_TRUSTSTORE_FILE"] == f"{CA_DIR}/cassandra-truststore.p12"
            # The truststore's password is a file of the secrets volume, like every password.
            password = settings["TIDEMARK_CASSANDRA_TRUSTSTORE_PASSWORD"]
            assert password == {"secretKeyRef": {"name": "cassandra-ca", "key": "truststore-password"}}
            assert ca_files(pod)["cassandra-truststore.p12"] == ("cassandra-ca", "truststore.p12")
            checked += 1
    assert checked >= 4  # ingest, aggregate, dims, migrate


def test_should_connect_as_before_when_no_ca_is_given() -> None:
    docs = render_chart(
        {"mysql": {"external": {"caSecret": ""}}, "cassandra": {"external": {"caSecret": ""}}},
        values_files=[CI / "external-stores.yaml"],
        api_versions=(),
    )
    for name, pod in pod_specs(docs):
        for container in pod["containers"]:
            settings = settings_of(container, pod)
            assert not {"TIDEMARK_MYSQL_CA_FILE", "TIDEMARK_CASSANDRA_CA_FILE"} & set(settings), name
            assert not {"mysql.crt", "cassandra.crt"} & set(ca_files(pod)), name


def test_should_have_the_charts_debezium_verify_an_external_mysql() -> None:
    docs = render_chart(
        {"kafkaConnect": {"enabled": True}, "mysql": {"external": {"enabled": True, "host": "db", "caSecret": "db-ca"}}}
    )
    config = named(docs, "KafkaConnector", "t-tidemark-recruit-job")["spec"]["config"]
    assert config["database.ssl.mode"] == "verify_identity"
    assert config["database.ssl.truststore"] == "/mnt/mysql-ca/truststore.p12"
    assert config["database.ssl.truststore.password"] == "${secrets:tidemark/db-ca:truststore-password}"
    template = named(docs, "KafkaConnect", "t-tidemark-connect")["spec"]["template"]
    assert template["pod"]["volumes"] == [
        {
            "name": "mysql-ca",
            "secret": {"secretName": "db-ca", "items": [{"key": "truststore.p12", "path": "truststore.p12"}]},
        }
    ]
    assert {"name": "mysql-ca", "mountPath": "/mnt/mysql-ca", "readOnly": True} in template["connectContainer"][
        "volumeMounts"
    ]
    role = named(docs, "Role", "t-tidemark-connect-secrets")
    assert "db-ca" in role["rules"][0]["resourceNames"]
    assert not by_kind(docs, "StatefulSet")  # the chart's own MySQL is not deployed


def hook_plan(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The passwords hook's plan (jobs/passwords.py)."""
    hook = named(docs, "Job", "t-tidemark-passwords")["spec"]["template"]["spec"]["containers"][0]
    plan: dict[str, Any] = json.loads(settings_of(hook, {"volumes": []})["TIDEMARK_PASSWORDS_PLAN"])
    return plan


def planned(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {s["name"]: s["data"] for s in hook_plan(docs)["secrets"]}


def test_should_issue_the_charts_stores_certificates_from_the_releases_ca() -> None:
    docs = render_chart()
    # The hook makes the CA once, and the one password of the stores' Java keystores.
    assert hook_plan(docs)["authority"]["name"] == "t-tidemark-ca"
    assert planned(docs)["t-tidemark-stores"] == {"truststore-password": "${password:truststore}"}
    assert "t-tidemark-ca" in named(docs, "Role", "t-tidemark-passwords")["rules"][1]["resourceNames"]
    assert named(docs, "Issuer", "t-tidemark-ca")["spec"] == {"ca": {"secretName": "t-tidemark-ca"}}
    mysql = named(docs, "Certificate", "t-tidemark-mysql-tls")["spec"]
    assert mysql["issuerRef"] == {"name": "t-tidemark-ca", "kind": "Issuer"}
    assert {"t-tidemark-mysql", "t-tidemark-mysql.tidemark.svc"} <= set(mysql["dnsNames"])
    assert mysql["keystores"]["pkcs12"]["passwordSecretRef"] == STORES_PASSWORD
    cassandra = named(docs, "Certificate", "t-tidemark-cassandra-tls")["spec"]
    assert "t-tidemark-dc1-service" in cassandra["dnsNames"]
    assert set(cassandra["keystores"]) == {"jks", "pkcs12"}


def test_should_make_the_charts_mysql_require_tls_and_every_client_check_it() -> None:
    docs = render_chart()
    config = named(docs, "ConfigMap", "t-tidemark-mysql")["data"]["tidemark.cnf"]
    assert "require_secure_transport = ON" in config and "ssl_cert = /etc/mysql/tls/tls.crt" in config
    mysql = named(docs, "StatefulSet", "t-tidemark-mysql")["spec"]["template"]["spec"]
    tls = next(v for v in mysql["volumes"] if v["name"] == "tls")
    assert tls["secret"]["secretName"] == "t-tidemark-mysql-tls"
    for name, pod in pod_specs(docs):
        for container in pod["containers"]:
            if container.get("command", [])[:2] == ["python", "-m"] and container["command"][2] != "jobs.passwords":
                assert settings_of(container, pod)["TIDEMARK_MYSQL_CA_FILE"] == f"{CA_DIR}/mysql.crt", name
                assert ca_files(pod)["mysql.crt"] == ("t-tidemark-mysql-tls", "ca.crt")
    config = named(docs, "KafkaConnector", "t-tidemark-recruit-job")["spec"]["config"]
    assert config["database.ssl.mode"] == "verify_identity"
    assert config["database.ssl.truststore.password"] == "${secrets:tidemark/t-tidemark-stores:truststore-password}"
    datasources = yaml.safe_load(planned(docs)["t-tidemark-datasources"]["tidemark-datasources.yaml"])
    mysql_source = datasources["datasources"][0]
    assert mysql_source["jsonData"]["tlsAuthWithCACert"] is True
    assert mysql_source["jsonData"]["serverName"] == "t-tidemark-mysql.tidemark.svc"
    assert mysql_source["secureJsonData"]["tlsCACert"] == "${ca}"  # the hook quotes the CA here


def test_should_have_k8ssandra_take_clients_over_tls_only_and_the_jobs_check_it() -> None:
    docs = render_chart()
    cassandra = named(docs, "K8ssandraCluster", "t-tidemark")["spec"]["cassandra"]
    options = cassandra["config"]["cassandraYaml"]["client_encryption_options"]
    assert options == {"enabled": True, "optional": False, "require_client_auth": False}
    stores = cassandra["clientEncryptionStores"]
    assert stores["keystoreSecretRef"] == {"name": "t-tidemark-cassandra-tls", "key": "keystore.jks"}
    assert stores["truststorePasswordSecretRef"] == STORES_PASSWORD
    ingest = named(docs, "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]
    settings = settings_of(ingest["containers"][0], ingest)
    assert settings["TIDEMARK_CASSANDRA_TLS_SERVER_NAME"] == "t-tidemark-dc1-service"
    assert settings["TIDEMARK_CASSANDRA_TRUSTSTORE_PASSWORD"] == {"secretKeyRef": STORES_PASSWORD}
    assert ca_files(ingest)["cassandra-truststore.p12"] == ("t-tidemark-cassandra-tls", "truststore.p12")


def test_should_run_the_stores_in_clear_when_told_and_need_no_cert_manager() -> None:
    no_cert_manager = tuple(a for a in OPERATOR_APIS if not a.startswith("cert-manager"))
    off = {"mysql": {"tls": {"enabled": False}}, "cassandra": {"tls": {"enabled": False}}}
    docs = render_chart(off, api_versions=no_cert_manager)
    assert not by_kind(docs, "Issuer") and not by_kind(docs, "Certificate")
    assert "authority" not in hook_plan(docs) and "t-tidemark-stores" not in planned(docs)
    with pytest.raises(RenderError, match=r"cert-manager\.io/v1/Issuer is not installed .* to run the stores in clear"):
        render_chart(api_versions=no_cert_manager)
