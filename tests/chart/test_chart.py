"""The chart rendered offline: lint, scenarios, schemas, the env contract and posture."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from jobs.streams import job_variables
from producer.settings import variables as producer_variables
from tests.crds import crd_files

from .helm_template import CHART, HELM, ROOT, RenderError, by_kind, pod_specs, render_chart, settings_of

SCENARIOS = sorted((CHART / "ci").glob("*.yaml"))
BUILT_IN_GROUPS = ("v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1")


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the operator's own openAPIV3Schema (tests/crds.py)."""
    schemas = {}
    for path in crd_files():
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def unknown_fields(doc: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Fields the API server would silently prune: a typo never fails, it just vanishes."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    found = []
    if isinstance(doc, dict) and "properties" in schema:
        for key, value in doc.items():
            if key not in schema["properties"]:
                found.append(f"{path}.{key}")
            else:
                found += unknown_fields(value, schema["properties"][key], f"{path}.{key}")
    elif isinstance(doc, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key, value in doc.items():
            found += unknown_fields(value, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(doc, list) and "items" in schema:
        for i, item in enumerate(doc):
            found += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return found


class TestLintAndScenarios:
    def test_should_lint_clean(self) -> None:
        done = subprocess.run([str(HELM), "lint", "--strict", str(CHART)], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_render_every_scenario(self, scenario: Path) -> None:
        assert render_chart(values_files=[scenario])

    def test_should_have_the_scenarios_the_users_need(self) -> None:
        names = {p.stem for p in SCENARIOS}
        assert {"kind-default", "minimal", "external-stores", "spark-kubernetes", "cron-ingest", "node"} <= names


class TestSchemas:
    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    @pytest.mark.parametrize("kube", ["1.30.0", "1.35.0"])
    def test_should_validate_built_in_objects_against_kubernetes(self, scenario: Path, kube: str) -> None:
        docs = render_chart(values_files=[scenario], kube_version=kube)
        built_in = [d for d in docs if d["apiVersion"] in BUILT_IN_GROUPS]
        assert built_in
        for doc in built_in:
            kubernetes_validate.validate(doc, kube, strict=True)

    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_validate_custom_resources_against_the_operators_crds(self, scenario: Path) -> None:
        schemas = crd_schemas()
        custom = [d for d in render_chart(values_files=[scenario]) if d["apiVersion"] not in BUILT_IN_GROUPS]
        for doc in custom:
            schema = schemas[(doc["apiVersion"], doc["kind"])]
            # The operators' schemas are OpenAPI v3: draft-7 validation, without checking
            # the schemas themselves (some patterns use Go regex syntax).
            body = {k: v for k, v in doc.items() if k != "metadata"}
            jsonschema.Draft7Validator(schema).validate(body)
            assert not unknown_fields(body, schema), (doc["kind"], unknown_fields(body, schema))

    def test_should_catch_a_field_the_crd_does_not_have(self) -> None:
        kafka = by_kind(render_chart(), "Kafka")[0]
        kafka["spec"]["zookeeper"] = {"replicas": 1}
        assert unknown_fields(kafka, crd_schemas()[("kafka.strimzi.io/v1", "Kafka")]) == [".spec.zookeeper"]
        kafka["spec"]["kafka"]["listeners"][0]["tls"] = "no"
        with pytest.raises(jsonschema.ValidationError, match="'no' is not of type 'boolean'"):
            jsonschema.Draft7Validator(crd_schemas()[("kafka.strimzi.io/v1", "Kafka")]).validate(kafka)


class TestOperatorPrerequisites:
    @pytest.mark.parametrize(
        ("missing", "message"),
        [
            ("kafka.strimzi.io/v1/Kafka", "kafka.external.enabled"),
            ("k8ssandra.io/v1alpha1/K8ssandraCluster", "cassandra.external.enabled"),
            ("monitoring.coreos.com/v1/ServiceMonitor", "monitoring.enabled=false"),
        ],
    )
    def test_should_fail_clearly_when_an_operator_is_missing(self, missing: str, message: str) -> None:
        apis = tuple(a for a in render_chart.__defaults__[3] if a != missing)  # type: ignore[index]
        with pytest.raises(RenderError, match=message):
            render_chart(api_versions=apis)

    def test_should_need_no_operator_with_external_stores_and_no_monitoring(self) -> None:
        docs = render_chart(values_files=[CHART / "ci" / "external-stores.yaml"], api_versions=())
        assert not [d for d in docs if d["apiVersion"] not in BUILT_IN_GROUPS]


def env_names(spec: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """The settings each container is given: env, ConfigMaps, and its secret files."""
    out = {}
    for c in spec["containers"]:
        names = set(settings_of(c, spec))
        for source in c.get("envFrom", []):
            names |= set(configmaps[source["configMapRef"]["name"]])
        out[c["name"]] = names
    return out


# Settings whose defaults only make sense on a laptop: a cluster must always give them.
JOB_REQUIRED = {
    "kafka_bootstrap",
    "kafka_security_protocol",
    "cassandra_hosts",
    "cassandra_port",
    "mysql_host",
    "mysql_port",
    "mysql_password",
    "checkpoint_dir",
    "pushgateway",
    "spark_master",
}
PRODUCER_REQUIRED = {
    "kafka_bootstrap",
    "kafka_security_protocol",
    "mysql_host",
    "mysql_port",
    "mysql_password",
    "producer_metrics_port",
}


class TestEnvContract:
    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_give_only_settings_the_processes_read_and_all_they_need(self, scenario: Path) -> None:
        docs = render_chart(values_files=[scenario])
        configmaps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind(docs, "ConfigMap")}
        readers = {
            "jobs": (job_variables(), JOB_REQUIRED),
            "producer": (producer_variables(), PRODUCER_REQUIRED),
        }
        checked = 0
        for _, spec in pod_specs(docs):
            for container in spec["containers"]:
                command = container.get("command", [])
                process = command[2] if command[:2] == ["python", "-m"] else None
                if process not in readers:
                    continue
                known, required = readers[process]
                given = env_names(spec, configmaps)[container["name"]]
                tidemark_vars = {n for n in given if n.startswith("TIDEMARK_")}
                assert tidemark_vars <= known, f"{container['name']}: nobody reads {tidemark_vars - known}"
                missing = {f"TIDEMARK_{r.upper()}" for r in required} - given
                assert not missing, f"{container['name']} misses {missing}"
                checked += 1
        assert checked >= 2

    def test_should_run_every_process_the_same_way(self) -> None:
        commands = {
            c["command"][3] if c["command"][2] == "jobs" else c["command"][2]
            for _, spec in pod_specs(render_chart())
            for c in spec["containers"]
            if c.get("command", [])[:2] == ["python", "-m"]
        }
        assert commands == {"producer", "ingest", "aggregate", "dims", "migrate", "jobs.passwords"}


class TestPosture:
    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_run_every_container_non_root_without_escalation_and_with_limits(self, scenario: Path) -> None:
        for name, spec in pod_specs(render_chart(values_files=[scenario])):
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["runAsUser"] > 0, name
            for c in spec["containers"]:
                assert c["securityContext"]["allowPrivilegeEscalation"] is False, (name, c["name"])
                assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], (name, c["name"])
                assert c["resources"]["requests"] and c["resources"]["limits"], (name, c["name"])
                assert not c["image"].endswith(":latest") and ":" in c["image"], (name, c["image"])

    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_place_every_object_in_the_releases_namespace(self, scenario: Path) -> None:
        # So `helm template | kubectl apply` lands where `--namespace` says, not in the default one.
        docs = render_chart(values_files=[scenario])
        assert [
            f"{d['kind']}/{d['metadata']['name']}" for d in docs if d["metadata"].get("namespace") != "tidemark"
        ] == []

    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_hand_secrets_to_containers_as_files_never_as_env(self, scenario: Path) -> None:
        for name, spec in pod_specs(render_chart(values_files=[scenario])):
            for c in spec.get("initContainers", []) + spec["containers"]:
                refs = [e["name"] for e in c.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})]
                assert refs == [], f"{name}/{c['name']}: {refs}"
                assert not [s for s in c.get("envFrom", []) if "secretRef" in s], (name, c["name"])

    def test_should_size_the_operators_resources_too(self) -> None:
        docs = render_chart()
        assert by_kind(docs, "KafkaNodePool")[0]["spec"]["resources"]["limits"]
        assert by_kind(docs, "KafkaConnect")[0]["spec"]["resources"]["limits"]
        assert by_kind(docs, "K8ssandraCluster")[0]["spec"]["cassandra"]["resources"]["limits"]

    @pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
    def test_should_keep_passwords_out_of_configmaps_and_resources(self, scenario: Path) -> None:
        docs = render_chart(values_files=[scenario])
        passwords = [
            base64.b64decode(v).decode()
            for s in by_kind(docs, "Secret")
            for k, v in s.get("data", {}).items()
            if "password" in k
        ]
        for doc in docs:
            if doc["kind"] == "Secret":
                continue
            text = json.dumps(doc)
            assert not [k for k in doc.get("data", {}) if "password" in k.lower()], doc["metadata"]["name"]
            for p in passwords:
                assert p not in text, f"a password leaks into {doc['kind']} {doc['metadata']['name']}"


class TestValuesSchema:
    def test_should_reject_an_unknown_key(self) -> None:
        with pytest.raises(RenderError, match="additional properties 'sparkk' not allowed"):
            render_chart({"sparkk": {"mode": "local"}})

    def test_should_reject_a_latest_tag(self) -> None:
        with pytest.raises(RenderError, match="tag"):
            render_chart({"jobs": {"image": {"tag": "latest"}}})

    def test_should_document_every_key_where_it_is_declared(self) -> None:
        lines = (CHART / "values.yaml").read_text().splitlines()
        undocumented = []
        for i, line in enumerate(lines):
            stripped = line.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("-"):
                continue
            key, _, rest = stripped.partition(":")
            is_block = rest.strip() == ""
            documented = i > 0 and lines[i - 1].strip().startswith("#")
            if not is_block and not documented and key not in ("requests", "limits", "release"):
                undocumented.append(f"{i + 1}: {stripped}")
        assert not undocumented, undocumented


def test_grafana_loads_dashboards_and_datasources_from_tidemarks_namespace_only() -> None:
    values = yaml.safe_load((ROOT / "deploy" / "operators" / "kube-prometheus-stack.yaml").read_text())
    sidecar = values["grafana"]["sidecar"]
    assert sidecar["dashboards"]["searchNamespace"] == sidecar["datasources"]["searchNamespace"] == "tidemark"
    script = (ROOT / "scripts" / "k8s.sh").read_text()
    assert "NAMESPACE=${NAMESPACE:-tidemark}" in script
    for kind in ("dashboards", "datasources"):
        assert f'grafana.sidecar.{kind}.searchNamespace="$NAMESPACE"' in script, "the install follows NAMESPACE"


@pytest.mark.parametrize("scenario", sorted((CHART / "ci").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_container_runs_on_a_read_only_root_with_volumes_where_it_writes(scenario: Path) -> None:
    docs = render_chart(values_files=[scenario])
    for name, spec in pod_specs(docs):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True, (name, container["name"])
            # A volume missing from the pod spec is a StatefulSet's claim: not an emptyDir.
            mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container.get("volumeMounts", [])}
            assert "emptyDir" in mounts.get("/tmp", {}), f"{name}/{container['name']} has no writable /tmp"
    # What the operators run, configured through their resources.
    for kafka in by_kind(docs, "Kafka"):
        operator = kafka["spec"]["entityOperator"]["template"]["topicOperatorContainer"]
        assert operator["securityContext"]["readOnlyRootFilesystem"] is True
    for pool in by_kind(docs, "KafkaNodePool"):
        assert pool["spec"]["template"]["kafkaContainer"]["securityContext"]["readOnlyRootFilesystem"] is True
    for connect in by_kind(docs, "KafkaConnect"):
        assert connect["spec"]["template"]["connectContainer"]["securityContext"]["readOnlyRootFilesystem"] is True
    for cluster in by_kind(docs, "K8ssandraCluster"):
        assert cluster["spec"]["cassandra"]["readOnlyRootFilesystem"] is True


def test_mysql_writes_its_socket_and_temp_files_to_volumes() -> None:
    (spec,) = [s for name, s in pod_specs(render_chart()) if name.endswith("-mysql")]
    mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert {"/var/lib/mysql", "/var/run/mysqld", "/tmp"} <= mounts
