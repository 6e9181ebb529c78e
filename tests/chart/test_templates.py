"""One class per template: what each renders, and what each switch changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from .helm_template import CHART, SECRETS_DIR, RenderError, by_kind, named, render_chart, settings_of

CI = CHART / "ci"
# Every stream's topic, as values.yaml names them.
STREAM_TOPICS = (
    "tidemark.tracking",
    "ad_topic",
    "orderstopicdemo",
    "user_session_logs",
    "user_auth_logs",
    "user_activity_logs",
)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# Where every client finds the CAs it verifies its servers with.
CA_MOUNT = {"name": "ca", "mountPath": "/etc/tidemark/ca", "readOnly": True}


class TestCronJobs:
    def test_should_render_one_cronjob_per_scheduled_job(self) -> None:
        docs = render_chart({"jobs": {"continuousIngest": {"enabled": False}}})
        names = {c["metadata"]["name"] for c in by_kind(docs, "CronJob")}
        assert names == {"t-tidemark-ingest", "t-tidemark-aggregate", "t-tidemark-dims", "t-tidemark-migrate"}

    def test_should_keep_a_suspended_migrate_cronjob_to_run_it_again_by_hand(self) -> None:
        docs = render_chart()
        cron = named(docs, "CronJob", "t-tidemark-migrate")
        assert cron["spec"]["suspend"] is True
        assert all(not c["spec"].get("suspend") for c in by_kind(docs, "CronJob") if c is not cron)
        pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        hook = named(docs, "Job", "t-tidemark-migrate")["spec"]["template"]["spec"]
        assert (
            pod["containers"][0]["command"] == hook["containers"][0]["command"] == ["python", "-m", "jobs", "migrate"]
        )
        assert pod["containers"][0]["env"] == hook["containers"][0]["env"]

    def test_should_never_overlap_runs_and_keep_bounded_history(self) -> None:
        docs = render_chart({"jobs": {"successfulJobsHistoryLimit": 2, "continuousIngest": {"enabled": False}}})
        for cron in by_kind(docs, "CronJob"):
            assert cron["spec"]["concurrencyPolicy"] == "Forbid"
            assert cron["spec"]["successfulJobsHistoryLimit"] == 2
            pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "t-tidemark-checkpoints"

    def test_should_drop_dims_without_cdc_and_ingest_when_continuous(self) -> None:
        docs = render_chart({"kafkaConnect": {"enabled": False}})
        assert {c["metadata"]["name"] for c in by_kind(docs, "CronJob")} == {
            "t-tidemark-aggregate",
            "t-tidemark-migrate",
        }
        ingest = named(docs, "Deployment", "t-tidemark-ingest")
        assert env_of(ingest["spec"]["template"]["spec"]["containers"][0])["TIDEMARK_INGEST_TRIGGER"] == "continuous"

    def test_should_ingest_continuously_and_aggregate_each_batch_by_default(self) -> None:
        config = named(render_chart(), "ConfigMap", "t-tidemark-jobs")["data"]
        assert (config["TIDEMARK_INGEST_AGGREGATES"], config["TIDEMARK_INGEST_INTERVAL_SECONDS"]) == ("true", "5")

    def test_should_give_the_continuous_driver_room_for_every_stream(self) -> None:
        pod = named(render_chart(), "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]
        assert pod["containers"][0]["resources"]["limits"]["memory"] == "2560Mi"
        cron = named(render_chart(), "CronJob", "t-tidemark-aggregate")["spec"]["jobTemplate"]["spec"]["template"]
        assert cron["spec"]["containers"][0]["resources"]["limits"]["memory"] == "1536Mi"

    def test_should_run_ingest_on_its_cronjob_at_the_batch_cadence(self) -> None:
        docs = render_chart({"jobs": {"continuousIngest": {"enabled": False}, "ingestAggregates": False}})
        assert not [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "t-tidemark-ingest"]
        assert "t-tidemark-ingest" in {c["metadata"]["name"] for c in by_kind(docs, "CronJob")}
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_INGEST_AGGREGATES"] == "false"


class TestSparkKubernetesMode:
    def test_should_give_the_driver_its_pod_ip_and_least_privilege(self) -> None:
        docs = render_chart({"spark": {"mode": "kubernetes"}})
        config = named(docs, "ConfigMap", "t-tidemark-jobs")["data"]
        assert config["TIDEMARK_SPARK_MASTER"] == "k8s://https://kubernetes.default.svc"
        assert config["TIDEMARK_SPARK_KUBERNETES_IMAGE"] == "tidemark/jobs:0.1.0"
        cron = by_kind(docs, "CronJob")[0]
        env = env_of(cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0])
        assert env["TIDEMARK_SPARK_DRIVER_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        role = named(docs, "Role", "t-tidemark-spark")
        resources = {res for rule in role["rules"] for res in rule["resources"]}
        assert resources == {"pods", "services", "configmaps"}
        assert all(rule["apiGroups"] == [""] for rule in role["rules"])

    def test_should_hand_the_driver_the_executors_pod_template(self) -> None:
        docs = render_chart({"spark": {"mode": "kubernetes"}})
        path = named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_SPARK_EXECUTOR_POD_TEMPLATE"]
        for cron in by_kind(docs, "CronJob"):
            pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            source = volumes["spark-pod-template"]["configMap"]["name"]
            assert path == f"{mounts['spark-pod-template']}/executor.yaml"
            assert "executor.yaml" in named(docs, "ConfigMap", source)["data"]

    def test_should_grant_nothing_in_local_mode(self) -> None:
        docs = render_chart()
        assert not [r for r in by_kind(docs, "Role") if r["metadata"]["name"] == "t-tidemark-spark"]
        account = named(docs, "ServiceAccount", "t-tidemark-spark")
        assert account["automountServiceAccountToken"] is False

    def test_should_let_spark_make_the_executors_owned_by_the_driver_pod(self) -> None:
        docs = render_chart({"spark": {"mode": "kubernetes"}})
        drivers = [(name, pod) for name, pod in pods(docs) if pod.get("serviceAccountName") == "t-tidemark-spark"]
        assert {name for name, _ in drivers} == {
            "CronJob/t-tidemark-aggregate",
            "CronJob/t-tidemark-dims",
            "CronJob/t-tidemark-migrate",
            "Deployment/t-tidemark-ingest",
            "Job/t-tidemark-migrate",
        }
        for name, pod in drivers:
            env = env_of(pod["containers"][0])
            assert env["TIDEMARK_SPARK_DRIVER_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}, name
        # Spark reads the driver's pod to make it the executors' owner.
        role = named(docs, "Role", "t-tidemark-spark")
        assert any("pods" in rule["resources"] and "get" in rule["verbs"] for rule in role["rules"])
        cron = named(render_chart(), "CronJob", "t-tidemark-aggregate")["spec"]["jobTemplate"]["spec"]["template"]
        assert "TIDEMARK_SPARK_DRIVER_POD_NAME" not in env_of(cron["spec"]["containers"][0]), "local mode: no executors"

    def test_should_ask_for_the_executor_cpu_given_and_spark_s_own_otherwise(self) -> None:
        given = {"spark": {"mode": "kubernetes", "kubernetes": {"executorRequestCores": "100m"}}}
        config = named(render_chart(given), "ConfigMap", "t-tidemark-jobs")["data"]
        assert config["TIDEMARK_SPARK_EXECUTOR_REQUEST_CORES"] == "100m"
        config = named(render_chart({"spark": {"mode": "kubernetes"}}), "ConfigMap", "t-tidemark-jobs")["data"]
        assert "TIDEMARK_SPARK_EXECUTOR_REQUEST_CORES" not in config

    def test_should_call_the_api_server_named_in_kubernetes_api(self) -> None:
        values = {"spark": {"mode": "kubernetes"}, "kubernetesApi": "https://127.0.0.1:36443"}
        config = named(render_chart(values), "ConfigMap", "t-tidemark-jobs")["data"]
        assert config["TIDEMARK_SPARK_MASTER"] == "k8s://https://127.0.0.1:36443"

    def test_should_keep_the_continuous_drivers_executors_in_its_own_pod_when_asked(self) -> None:
        docs = render_chart({"spark": {"mode": "kubernetes"}, "jobs": {"continuousIngest": {"sparkMode": "local"}}})
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_SPARK_MASTER"].startswith("k8s://")
        ingest = named(docs, "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]
        env = env_of(ingest["containers"][0])
        # `env` wins over the shared ConfigMap's `envFrom`.
        assert env["TIDEMARK_SPARK_MASTER"] == "local[*]"
        assert not {"TIDEMARK_SPARK_DRIVER_HOST", "TIDEMARK_SPARK_DRIVER_POD_NAME"} & set(env)
        assert "spark-pod-template" not in {v["name"] for v in ingest["volumes"]}
        assert ingest["automountServiceAccountToken"] is False, "a local driver calls no API"
        cron = named(docs, "CronJob", "t-tidemark-aggregate")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert "TIDEMARK_SPARK_MASTER" not in env_of(cron["containers"][0]), "the CronJobs keep spark.mode"
        assert "TIDEMARK_SPARK_DRIVER_HOST" in env_of(cron["containers"][0])

    def test_should_run_only_the_continuous_drivers_executors_as_pods_when_asked(self) -> None:
        docs = render_chart({"jobs": {"continuousIngest": {"sparkMode": "kubernetes"}}})
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_SPARK_MASTER"] == "local[*]"
        ingest = named(docs, "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]
        env = env_of(ingest["containers"][0])
        assert env["TIDEMARK_SPARK_MASTER"] == "k8s://https://kubernetes.default.svc"
        assert env["TIDEMARK_SPARK_KUBERNETES_IMAGE"] == "tidemark/jobs:0.1.0"
        assert env["TIDEMARK_SPARK_EXECUTOR_POD_TEMPLATE"] == "/etc/tidemark/spark/executor.yaml"
        assert env["TIDEMARK_SPARK_DRIVER_HOST"] == {"fieldRef": {"fieldPath": "status.podIP"}}
        assert "spark-pod-template" in {v["name"] for v in ingest["volumes"]}
        assert named(docs, "ConfigMap", "t-tidemark-spark-pod-template")
        assert named(docs, "Role", "t-tidemark-spark")
        assert named(docs, "ServiceAccount", "t-tidemark-spark")["automountServiceAccountToken"] is True
        cron = named(docs, "CronJob", "t-tidemark-aggregate")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert not {"TIDEMARK_SPARK_MASTER", "TIDEMARK_SPARK_DRIVER_HOST"} & set(env_of(cron["containers"][0]))
        assert cron["automountServiceAccountToken"] is False, "a local driver calls no API"

    def test_should_refuse_a_spark_mode_it_does_not_know_for_the_continuous_driver(self) -> None:
        with pytest.raises(RenderError, match=r"jobs\.continuousIngest\.sparkMode must be"):
            render_chart({"jobs": {"continuousIngest": {"sparkMode": "yarn"}}})


class TestMigrateHook:
    def test_should_run_migrate_after_install_and_upgrade(self) -> None:
        job = named(render_chart(), "Job", "t-tidemark-migrate")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
        assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "jobs", "migrate"]


def plan(docs: list[dict[str, Any]], release: str = "t") -> dict[str, Any]:
    """The passwords hook's plan (jobs/passwords.py), as the chart renders it."""
    hook = named(docs, "Job", f"{release}-tidemark-passwords")["spec"]["template"]["spec"]["containers"][0]
    return dict(json.loads(env_of(hook)["TIDEMARK_PASSWORDS_PLAN"]))


def planned(docs: list[dict[str, Any]], release: str = "t") -> dict[str, dict[str, str]]:
    """Each Secret the hook makes, by name: its keys' templates."""
    return {s["name"]: s["data"] for s in plan(docs, release)["secrets"]}


class TestSecrets:
    def test_should_render_no_password_so_every_render_is_the_same(self) -> None:
        first, second = render_chart(), render_chart()
        assert first == second, "a render made new passwords"
        assert not by_kind(first, "Secret"), "a rendered Secret would hold a password Helm made"

    def test_should_plan_every_password_once_and_reuse_it_wherever_it_goes(self) -> None:
        secrets = planned(render_chart())
        assert secrets["t-tidemark-mysql"] == {
            f"{key}-password": f"${{password:{key}}}"
            for key in ("root", "app", "producer", "migrate", "debezium", "grafana")
        }
        assert secrets["t-tidemark-mysql-jobs"] == {"password": "${password:app}"}
        assert secrets["t-tidemark-mysql-producer"] == {"password": "${password:producer}"}
        assert secrets["t-tidemark-mysql-migrate"] == {"password": "${password:migrate}"}
        assert secrets["t-tidemark-mysql-debezium"] == {"password": "${password:debezium}"}
        assert secrets["t-tidemark-cassandra-app"] == {"username": "tidemark", "password": "${password:cassandra}"}
        assert 'password: "${password:grafana}"' in secrets["t-tidemark-datasources"]["tidemark-datasources.yaml"]
        datasource = next(s for s in plan(render_chart())["secrets"] if s["name"] == "t-tidemark-datasources")
        assert datasource["labels"]["grafana_datasource"] == "1", "the Grafana sidecar loads it by this label"

    def test_should_make_the_secrets_in_a_hook_before_anything_reads_them(self) -> None:
        docs = render_chart()
        job = named(docs, "Job", "t-tidemark-passwords")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
        pod = job["spec"]["template"]["spec"]
        assert pod["containers"][0]["command"] == ["python", "-m", "jobs.passwords"]
        assert pod["serviceAccountName"] == "t-tidemark-passwords"
        for kind in ("ServiceAccount", "Role", "RoleBinding"):
            hook = named(docs, kind, "t-tidemark-passwords")["metadata"]["annotations"]
            assert int(hook["helm.sh/hook-weight"]) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
        rules = named(docs, "Role", "t-tidemark-passwords")["rules"]
        assert rules[0] == {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}
        # ...and the release's CA, which it makes once (jobs/passwords.py).
        ours = set(planned(docs)) | {plan(docs)["authority"]["name"]}
        assert set(rules[1]["resourceNames"]) == ours and rules[1]["verbs"] == ["get", "patch"]

    def test_should_make_the_secrets_through_the_api_server_named_in_kubernetes_api(self) -> None:
        hook = named(render_chart({"kubernetesApi": "https://127.0.0.1:36443"}), "Job", "t-tidemark-passwords")
        pod = hook["spec"]["template"]["spec"]
        assert env_of(pod["containers"][0])["TIDEMARK_KUBE_API"] == "https://127.0.0.1:36443"
        # It finds the token and the CA where the kubelet mounts the account's (jobs/passwords.py).
        assert pod["automountServiceAccountToken"] is True
        default = named(render_chart(), "Job", "t-tidemark-passwords")["spec"]["template"]["spec"]["containers"][0]
        assert "TIDEMARK_KUBE_API" not in env_of(default), "in-cluster: the service's name"

    def test_should_point_grafana_at_your_own_mysql_as_you_name_it(self) -> None:
        yours = render_chart(values_files=[CI / "external-stores.yaml"], api_versions=())
        ours = render_chart()
        name, key = "t-tidemark-datasources", "tidemark-datasources.yaml"
        assert "url: mysql.data.svc:3306" in planned(yours)[name][key], "its host as given, not a Service's name"
        assert "url: t-tidemark-mysql.tidemark.svc:3306" in planned(ours)[name][key]

    def test_should_use_a_named_existing_secret_instead(self) -> None:
        own = {"jobs": "mine-jobs", "producer": "mine-producer", "migrate": "mine-migrate"}
        docs = render_chart(
            {
                "mysql": {"auth": {"existingSecret": "mine", "existingSecrets": own}},
                "kafkaConnect": {"connector": {"existingSecret": "cdc"}},
            }
        )
        assert not [name for name in planned(docs) if name.startswith("t-tidemark-mysql")]
        sources = {(s["password"], s["secret"]) for s in plan(docs)["sources"]}
        assert ("grafana", "mine") in sources, "the datasource takes grafana's password from the user's Secret"
        assert {"get"} == set(named(docs, "Role", "t-tidemark-passwords")["rules"][2]["verbs"])
        cron = by_kind(docs, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        env = settings_of(cron["containers"][0], cron)
        assert env["TIDEMARK_MYSQL_PASSWORD"] == {"secretKeyRef": {"name": "mine-jobs", "key": "password"}}
        mysql = named(docs, "StatefulSet", "t-tidemark-mysql")["spec"]["template"]["spec"]
        accounts = settings_of(mysql["initContainers"][0], mysql)
        assert {v["secretKeyRef"]["name"] for k, v in accounts.items() if k.endswith("_PASSWORD")} == {"mine"}

    @pytest.mark.parametrize("component", ["jobs", "producer", "migrate"])
    def test_should_refuse_a_users_mysql_secret_without_each_components_own(self, component: str) -> None:
        own = {c: f"mine-{c}" for c in ("jobs", "producer", "migrate") if c != component}
        values = {"mysql": {"auth": {"existingSecret": "mine", "existingSecrets": own}}}
        values["kafkaConnect"] = {"connector": {"existingSecret": "cdc"}}
        with pytest.raises(RenderError, match=rf"mysql\.auth\.existingSecrets\.{component} is required"):
            render_chart(values)


class TestKafka:
    def test_should_run_kraft_dual_role_nodes_and_one_topic_per_stream(self) -> None:
        docs = render_chart({"kafka": {"replicas": 3}})
        pool = by_kind(docs, "KafkaNodePool")[0]
        assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "t-tidemark"
        assert by_kind(docs, "Kafka")[0]["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
        topics = {t["spec"]["topicName"]: t for t in by_kind(docs, "KafkaTopic")}
        assert set(topics) == set(STREAM_TOPICS)
        assert topics["ad_topic"]["spec"]["replicas"] == 3

    def test_should_render_no_topic_for_a_disabled_stream(self) -> None:
        docs = render_chart({"streams": {"tracking": {"enabled": False}}})
        assert "tidemark.tracking" not in [t["spec"]["topicName"] for t in by_kind(docs, "KafkaTopic")]


class TestStreams:
    def test_should_give_jobs_every_streams_settings(self) -> None:
        docs = render_chart({"streams": {"ads": {"enabled": False, "retentionDays": 0}}})
        data = named(docs, "ConfigMap", "t-tidemark-jobs")["data"]
        assert data["TIDEMARK_ADS_ENABLED"] == "false"
        assert data["TIDEMARK_ADS_RETENTION_DAYS"] == "0"
        assert data["TIDEMARK_TRACKING_TOPIC"] == "tidemark.tracking"

    def test_should_give_a_stream_with_its_own_schedule_its_own_aggregate(self) -> None:
        docs = render_chart({"streams": {"ads": {"schedule": "* * * * *"}}})
        commands = {
            d["metadata"]["name"]: d["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
            for d in by_kind(docs, "CronJob")
        }
        assert commands["t-tidemark-aggregate-ads"][3:] == ["aggregate", "--stream", "ads"]
        shared = commands["t-tidemark-aggregate"][3:]
        assert shared[0] == "aggregate" and "ads" not in shared and "tracking" in shared
        assert named(docs, "CronJob", "t-tidemark-aggregate-ads")["spec"]["schedule"] == "* * * * *"

    def test_should_run_one_producer_per_stream(self) -> None:
        docs = render_chart({"streams": {"ads": {"producer": True}}})
        producers = {
            d["metadata"]["name"]: d for d in by_kind(docs, "Deployment") if "producer" in d["metadata"]["name"]
        }
        assert set(producers) == {
            "t-tidemark-producer-tracking",
            "t-tidemark-producer-ads",
            "t-tidemark-producer-orders",
            "t-tidemark-producer-userlogs",
        }
        env = producers["t-tidemark-producer-ads"]["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "TIDEMARK_PRODUCER_STREAM", "value": "ads"} in env
        names = {
            name: sorted(e["name"] for e in d["spec"]["template"]["spec"]["containers"][0]["env"])
            for name, d in producers.items()
        }
        assert len({tuple(n) for n in names.values()}) == 1, f"one stream's producer is set apart: {names}"

    def test_should_give_each_producer_its_own_metrics_port_in_stream_order(self) -> None:
        docs = render_chart({"producer": {"metricsPort": 9100}, "streams": {"orders": {"enabled": False}}})
        ports = {}
        for d in by_kind(docs, "Deployment"):
            if d["metadata"]["name"].startswith("t-tidemark-producer-"):
                container = d["spec"]["template"]["spec"]["containers"][0]
                (port,) = container["ports"]
                assert port["name"] == "metrics"
                assert env_of(container)["TIDEMARK_PRODUCER_METRICS_PORT"] == str(port["containerPort"])
                ports[d["metadata"]["labels"]["tidemark.io/stream"]] = port["containerPort"]
        # Sorted enabled producer streams: ads, tracking, userlogs (orders is off).
        assert ports == {"ads": 9100, "tracking": 9101, "userlogs": 9102}
        assert "TIDEMARK_PRODUCER_METRICS_PORT" not in named(docs, "ConfigMap", "t-tidemark-producer")["data"]
        service = named(docs, "Service", "t-tidemark-producer")
        assert service["spec"]["ports"] == [{"name": "metrics", "port": 9100, "targetPort": "metrics"}]


class TestConnector:
    def test_should_read_the_debezium_password_through_the_config_provider(self) -> None:
        docs = render_chart()
        connector = by_kind(docs, "KafkaConnector")[0]
        assert (
            connector["spec"]["config"]["database.password"] == "${secrets:tidemark/t-tidemark-mysql-debezium:password}"
        )
        assert connector["spec"]["config"]["table.include.list"] == "recruit.job"
        connect = by_kind(docs, "KafkaConnect")[0]
        assert connect["spec"]["image"] == "tidemark/connect:0.1.0"


class TestCassandra:
    def test_should_size_cassandra_for_a_laptop(self) -> None:
        cluster = by_kind(render_chart({"cassandra": {"heap": "768M"}}), "K8ssandraCluster")[0]
        assert cluster["spec"]["cassandra"]["serverVersion"].startswith("5.0.")
        assert cluster["spec"]["cassandra"]["config"]["jvmOptions"]["heapSize"] == "768M"
        assert cluster["spec"]["cassandra"]["datacenters"][0]["size"] == 1


def account_sql(docs: list[dict[str, Any]], passwords: dict[str, str] | None = None) -> list[str]:
    """The SQL the MySQL pod's `accounts` init container writes: its script, run for real."""
    import os
    import subprocess
    import tempfile

    script = named(docs, "ConfigMap", "t-tidemark-mysql")["data"]["accounts.sh"]
    names = ("APP", "PRODUCER", "MIGRATE", "DEBEZIUM", "GRAFANA")
    files = {f"TIDEMARK_{n}_PASSWORD": n.lower() for n in names} | (passwords or {})
    with tempfile.TemporaryDirectory() as run, tempfile.TemporaryDirectory() as secrets:
        for name, password in files.items():
            (Path(secrets) / name).write_text(password)
        script = script.replace("/run/tidemark", run).replace(SECRETS_DIR, secrets)
        subprocess.run(["sh", "-c", script], env=dict(os.environ), check=True)
        return (Path(run) / "accounts.sql").read_text().splitlines()


def account_grants(docs: list[dict[str, Any]]) -> dict[str, set[str]]:
    grants: dict[str, set[str]] = {}
    for line in account_sql(docs):
        if line.startswith("GRANT "):
            what, user = line.removeprefix("GRANT ").rsplit(" TO ", 1)
            grants.setdefault(user.split("'")[1], set()).add(what)
    return grants


def pods(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for doc in docs:
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if "template" in spec and "spec" in spec["template"]:
            out.append((f"{doc['kind']}/{doc['metadata']['name']}", spec["template"]["spec"]))
    return out


def secrets_read(pod: dict[str, Any]) -> set[str]:
    names = set()
    for c in pod.get("initContainers", []) + pod["containers"]:
        for e in c.get("env", []):
            if "secretKeyRef" in e.get("valueFrom", {}):
                names.add(e["valueFrom"]["secretKeyRef"]["name"])
        names |= {s["secretRef"]["name"] for s in c.get("envFrom", []) if "secretRef" in s}
    names |= {v["secret"]["secretName"] for v in pod.get("volumes", []) if "secret" in v}
    names |= {s["secret"]["name"] for v in pod.get("volumes", []) for s in v.get("projected", {}).get("sources", [])}
    return names


class TestMysqlAccounts:
    def test_should_give_each_component_its_own_user_and_secret(self) -> None:
        docs = render_chart()
        seen = set()
        for name, pod in pods(docs):
            for container in pod["containers"]:
                if container.get("command", [])[:2] != ["python", "-m"] or container["command"][2] == "jobs.passwords":
                    continue
                env = settings_of(container, pod)
                component = "producer" if container["command"][2] == "producer" else "jobs"
                user = {"jobs": "tidemark", "producer": "tidemark_producer"}[component]
                assert env["TIDEMARK_MYSQL_USER"] == user, name
                ref = {"name": f"t-tidemark-mysql-{component}", "key": "password"}
                assert env["TIDEMARK_MYSQL_PASSWORD"] == {"secretKeyRef": ref}, name
                if container["command"][-1] == "migrate":
                    assert env["TIDEMARK_MYSQL_MIGRATE_USER"] == "tidemark_migrate"
                    migrate = {"name": "t-tidemark-mysql-migrate", "key": "password"}
                    assert env["TIDEMARK_MYSQL_MIGRATE_PASSWORD"] == {"secretKeyRef": migrate}
                    seen.add("migrate")
                else:
                    assert "TIDEMARK_MYSQL_MIGRATE_PASSWORD" not in env, f"{name} runs no DDL"
                seen.add(component)
        assert seen == {"jobs", "producer", "migrate"}

    def test_should_let_only_the_mysql_pod_read_the_root_password(self) -> None:
        docs = render_chart()
        readers = [name for name, pod in pods(docs) if "t-tidemark-mysql" in secrets_read(pod)]
        assert readers == ["StatefulSet/t-tidemark-mysql"]
        secrets = planned(docs)
        for component, key in (("jobs", "app"), ("producer", "producer"), ("migrate", "migrate")):
            own = secrets[f"t-tidemark-mysql-{component}"]
            assert own == {"password": secrets["t-tidemark-mysql"][f"{key}-password"]}, "the password MySQL gives"

    def test_should_grant_each_account_exactly_what_it_does(self) -> None:
        assert account_grants(render_chart()) == {
            "tidemark": {
                "SELECT, INSERT, UPDATE, DELETE ON `analytics`.*",
                "SELECT ON `recruit`.*",
                "SELECT ON `shop`.*",
            },
            "tidemark_producer": {
                "SELECT, INSERT, UPDATE, DELETE ON `recruit`.*",
                "SELECT, INSERT, UPDATE, DELETE ON `shop`.*",
            },
            "tidemark_migrate": {
                "ALL PRIVILEGES ON `analytics`.*",
                "ALL PRIVILEGES ON `recruit`.*",
                "ALL PRIVILEGES ON `shop`.*",
            },
            "debezium": {
                "RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.*",
                "SELECT ON `recruit`.*",
            },
            "grafana": {"SELECT ON `analytics`.*"},
        }

    def test_should_apply_the_accounts_at_every_start_with_quoted_passwords(self) -> None:
        docs = render_chart()
        sql = account_sql(docs, {"TIDEMARK_APP_PASSWORD": "it's\\"})
        assert "ALTER USER 'tidemark'@'%' IDENTIFIED BY 'it''s\\\\';" in sql, "a rotated password takes effect"
        assert "REVOKE ALL PRIVILEGES, GRANT OPTION FROM 'tidemark'@'%';" in sql, "a dropped grant goes"
        mysql = named(docs, "StatefulSet", "t-tidemark-mysql")["spec"]["template"]["spec"]
        assert mysql["containers"][0]["args"] == ["mysqld", "--init-file=/run/tidemark/accounts.sql"]
        assert mysql["initContainers"][0]["command"] == ["sh", "/etc/tidemark/accounts.sh"]
        assert {"name": "accounts", "emptyDir": {"medium": "Memory"}} in mysql["volumes"]
        server = settings_of(mysql["containers"][0], mysql)
        assert set(server) == {"MYSQL_ROOT_PASSWORD_FILE"}, "the server reads the accounts' passwords from its SQL"
        root = next(v for v in mysql["volumes"] if v["name"] == "root")["projected"]["sources"]
        assert root == [
            {"secret": {"name": "t-tidemark-mysql", "items": [{"key": "root-password", "path": "MYSQL_ROOT_PASSWORD"}]}}
        ]
        assert server["MYSQL_ROOT_PASSWORD_FILE"] == "/etc/tidemark/root/MYSQL_ROOT_PASSWORD"


class TestCassandraRoles:
    def test_should_let_the_jobs_log_in_as_their_own_role_and_only_migrate_as_superuser(self) -> None:
        docs = render_chart()
        app = {"name": "t-tidemark-cassandra-app"}
        for name, pod in pods(docs):
            for container in pod["containers"]:
                if container.get("command", [])[:3] != ["python", "-m", "jobs"]:
                    continue
                env = settings_of(container, pod)
                assert env["TIDEMARK_CASSANDRA_USERNAME"] == {"secretKeyRef": app | {"key": "username"}}, name
                assert env["TIDEMARK_CASSANDRA_PASSWORD"] == {"secretKeyRef": app | {"key": "password"}}, name
                if container["command"][-1] == "migrate":
                    superuser = {"name": "t-tidemark-superuser", "key": "password"}
                    assert env["TIDEMARK_CASSANDRA_ADMIN_PASSWORD"] == {"secretKeyRef": superuser}
        readers = sorted(name for name, pod in pods(docs) if "t-tidemark-superuser" in secrets_read(pod))
        assert readers == ["CronJob/t-tidemark-migrate", "Job/t-tidemark-migrate"]
        assert planned(docs)["t-tidemark-cassandra-app"] == {
            "username": "tidemark",
            "password": "${password:cassandra}",
        }

    def test_should_run_migrate_as_the_admin_role_of_a_cassandra_of_your_own(self) -> None:
        docs = render_chart(values_files=[CI / "external-stores.yaml"], api_versions=())
        assert "t-tidemark-cassandra-app" not in planned(docs)
        pod = named(docs, "Job", "t-tidemark-migrate")["spec"]["template"]["spec"]
        env = settings_of(pod["containers"][0], pod)
        admin = {"name": "cassandra-admin"}
        assert env["TIDEMARK_CASSANDRA_ADMIN_USERNAME"] == {"secretKeyRef": admin | {"key": "username"}}
        assert env["TIDEMARK_CASSANDRA_ADMIN_PASSWORD"] == {"secretKeyRef": admin | {"key": "password"}}
        assert env["TIDEMARK_CASSANDRA_USERNAME"]["secretKeyRef"] == {"name": "cassandra-app", "key": "username"}
        readers = sorted(name for name, pod in pods(docs) if "cassandra-admin" in secrets_read(pod))
        assert readers == ["CronJob/t-tidemark-migrate", "Job/t-tidemark-migrate"]

    def test_should_refuse_a_cassandra_of_your_own_without_an_admin_secret(self) -> None:
        external = {"enabled": True, "hosts": "c", "existingSecret": "app"}
        with pytest.raises(RenderError, match=r"cassandra\.external\.adminSecret is required"):
            render_chart({"cassandra": {"external": external}})


class TestMysql:
    def test_should_configure_the_binlog_debezium_needs(self) -> None:
        docs = render_chart()
        config = named(docs, "ConfigMap", "t-tidemark-mysql")["data"]
        for line in ("binlog_format = ROW", "binlog_row_image = FULL", "gtid_mode = ON"):
            assert line in config["tidemark.cnf"]
        assert by_kind(docs, "StatefulSet")[0]["spec"]["template"]["spec"]["containers"][0]["image"] == "mysql:8.4.6"

    def test_should_probe_without_credentials_and_carry_no_token(self) -> None:
        pod = named(render_chart(), "StatefulSet", "t-tidemark-mysql")["spec"]["template"]["spec"]
        assert pod["containers"][0]["readinessProbe"]["exec"]["command"] == [
            "mysqladmin",
            "ping",
            "-h",
            "127.0.0.1",
            "--silent",
        ]
        assert pod["automountServiceAccountToken"] is False

    def test_should_give_the_entrypoint_no_script_to_source(self) -> None:
        pod = named(render_chart(), "StatefulSet", "t-tidemark-mysql")["spec"]["template"]["spec"]
        mounts = [m["mountPath"] for c in pod["initContainers"] + pod["containers"] for m in c["volumeMounts"]]
        assert not [m for m in mounts if m.startswith("/docker-entrypoint-initdb.d")]


class TestNetworkPolicies:
    def test_should_open_mysql_to_the_pipeline_connect_and_grafana_only(self) -> None:
        policy = named(render_chart(), "NetworkPolicy", "t-tidemark-mysql")
        sources = policy["spec"]["ingress"][0]["from"]
        assert {"podSelector": {"matchLabels": {"strimzi.io/kind": "KafkaConnect"}}} in sources
        grafana = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "grafana"}},
        }
        assert grafana in sources, "not the whole monitoring namespace: Grafana's datasource alone"
        assert policy["spec"]["ingress"][0]["ports"] == [{"port": 3306, "protocol": "TCP"}]

    def test_should_render_none_when_disabled(self) -> None:
        assert not by_kind(render_chart({"networkPolicy": {"enabled": False}}), "NetworkPolicy")


class TestPushgateway:
    def test_should_push_to_the_releases_own_pushgateway(self) -> None:
        config = named(render_chart({"pushgateway": {"address": "elsewhere:9091"}}), "ConfigMap", "t-tidemark-jobs")
        assert config["data"]["TIDEMARK_PUSHGATEWAY"] == "t-tidemark-pushgateway:9091", "its own wins"

    def test_should_push_to_a_pushgateway_outside_the_release(self) -> None:
        docs = render_chart({"pushgateway": {"enabled": False, "address": "127.0.0.1:19091"}})
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_PUSHGATEWAY"] == "127.0.0.1:19091"
        assert not [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == "t-tidemark-pushgateway"]
        config = named(render_chart({"pushgateway": {"enabled": False}}), "ConfigMap", "t-tidemark-jobs")["data"]
        assert config["TIDEMARK_PUSHGATEWAY"] == "", "no Pushgateway: the jobs push nothing"

    def test_should_refuse_a_pushgateway_address_without_a_port(self) -> None:
        with pytest.raises(RenderError, match=r"pushgateway\.address must be host:port"):
            render_chart({"pushgateway": {"enabled": False, "address": "pushgateway.example"}})


class TestMonitoring:
    def test_should_keep_pushed_job_labels_and_scrape_the_producer(self) -> None:
        docs = render_chart()
        monitor = by_kind(docs, "ServiceMonitor")[0]
        assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert by_kind(docs, "PodMonitor")[0]["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"

    def test_should_name_the_install_in_what_jobs_push_and_monitors_scrape(self) -> None:
        docs = render_chart()
        # The chart renders release "t" into namespace "tidemark".
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_RELEASE"] == "tidemark/t"
        endpoints = [e for m in by_kind(docs, "PodMonitor") for e in m["spec"]["podMetricsEndpoints"]]
        assert len(endpoints) == 3
        for endpoint in endpoints:
            assert {"targetLabel": "release", "replacement": "tidemark/t"} in endpoint["relabelings"]

    def test_should_turn_values_into_alert_thresholds(self) -> None:
        rule = by_kind(render_chart({"monitoring": {"freshnessSloSeconds": 123}}), "PrometheusRule")[0]
        exprs = {
            r["alert"]: r["expr"]
            for g in rule["spec"]["groups"]
            for r in g["rules"]
            if r.get("alert") not in (None, "TidemarkJobNotSucceeding")
        }
        assert exprs["TidemarkFreshnessOverSlo"].endswith("> 123")
        not_succeeding = [
            r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "TidemarkJobNotSucceeding"
        ]
        # ingest and aggregate every 2 minutes, dims every 5: three missed schedules each.
        assert {r["labels"]["tidemark_job"]: r["expr"].split("> ")[-1] for r in not_succeeding} == {
            "ingest": "360",
            "aggregate": "360",
            "dims": "900",
        }


class TestContinuousIngest:
    def test_should_scrape_sparks_own_metrics_from_the_ingest_pod(self) -> None:
        docs = render_chart()
        monitor = named(docs, "PodMonitor", "t-tidemark-ingest")
        assert [e["path"] for e in monitor["spec"]["podMetricsEndpoints"]] == [
            "/metrics/prometheus",
            "/metrics/executors/prometheus",
        ]
        pod = named(docs, "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]
        assert pod["containers"][0]["ports"] == [{"name": "spark-ui", "containerPort": 4040}]

    def test_should_restart_a_driver_whose_queries_stop_making_progress(self) -> None:
        container = named(render_chart(), "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]["containers"][
            0
        ]
        probe = ["python", "-m", "jobs.alive"]
        assert container["livenessProbe"]["exec"]["command"] == probe
        assert container["startupProbe"]["exec"]["command"] == probe
        assert env_of(container)["TIDEMARK_INGEST_ALIVE_FILE"] == "/tmp/tidemark/alive"
        # The heartbeat lives in the pod's writable /tmp.
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]

    def test_should_be_ready_only_while_its_queries_make_progress(self) -> None:
        container = named(render_chart(), "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]["containers"][
            0
        ]
        assert container["readinessProbe"]["exec"]["command"] == ["python", "-m", "jobs.alive"]
        assert container["readinessProbe"]["periodSeconds"] == 10

    def test_should_roll_the_ingest_pod_when_the_jobs_config_changes(self) -> None:
        def checksum(values: dict[str, Any]) -> str:
            template = named(render_chart(values), "Deployment", "t-tidemark-ingest")["spec"]["template"]
            return str(template["metadata"]["annotations"]["checksum/config"])

        assert checksum({}) == checksum({})
        assert checksum({}) != checksum({"reportTimezone": "Asia/Ho_Chi_Minh"})
        assert checksum({}) == checksum({"producer": {"rate": 7}}), "the producers' settings are not the jobs'"

    def test_should_not_scrape_a_cronjob(self) -> None:
        docs = render_chart({"jobs": {"continuousIngest": {"enabled": False}}})
        assert not [m for m in by_kind(docs, "PodMonitor") if m["metadata"]["name"] == "t-tidemark-ingest"]


class TestChangeDataCaptureOnKubernetes:
    def test_should_let_strimzi_reconcile_the_kafkaconnector(self) -> None:
        docs = render_chart()
        connect = named(docs, "KafkaConnect", "t-tidemark-connect")
        # Without it Strimzi 1.2 leaves every KafkaConnector of this cluster alone.
        assert connect["metadata"]["annotations"]["strimzi.io/use-connector-resources"] == "true"
        connector = named(docs, "KafkaConnector", "t-tidemark-recruit-job")
        assert connector["metadata"]["labels"]["strimzi.io/cluster"] == "t-tidemark-connect"

    def test_should_create_debeziums_topics_on_a_broker_that_auto_creates_none(self) -> None:
        docs = render_chart()
        assert named(docs, "Kafka", "t-tidemark")["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
        worker = named(docs, "KafkaConnect", "t-tidemark-connect")["spec"]["config"]
        connector = named(docs, "KafkaConnector", "t-tidemark-recruit-job")["spec"]["config"]
        # Connect creates every topic the connector writes (the change topic tidemark.recruit.job
        # and the schema-change topic tidemark) from the topic.creation.default.* settings...
        assert worker["topic.creation.enable"] is True
        assert connector["topic.creation.default.replication.factor"] == -1
        assert connector["topic.creation.default.partitions"] == 1
        # ...and Debezium creates its schema-history topic itself, with one partition, kept forever.
        assert connector["schema.history.internal.kafka.topic"] == "tidemark.schema-history"
        streams = {t["spec"]["topicName"] for t in by_kind(docs, "KafkaTopic")}
        assert not {"tidemark", "tidemark.recruit.job", "tidemark.schema-history"} & streams

    @pytest.mark.parametrize("connect", [False, True], ids=["connect-off", "connect-on"])
    def test_should_run_dims_on_the_change_topic_of_a_debezium_you_run(self, connect: bool) -> None:
        cdc = {"enabled": connect, "external": {"enabled": True}, "connector": {"topicPrefix": "cdc"}}
        docs = render_chart({"kafkaConnect": cdc})
        assert "t-tidemark-dims" in {c["metadata"]["name"] for c in by_kind(docs, "CronJob")}
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_CDC_JOB_TOPIC"] == "cdc.recruit.job"
        assert ("topic", "cdc.recruit.job", "literal", ("Describe", "Read")) in acls(
            named(docs, "KafkaUser", "t-tidemark-jobs")
        )
        # Your Debezium, your Connect: the chart runs none, and makes it no login.
        assert not [d for d in docs if d["kind"] in ("KafkaConnect", "KafkaConnector")]
        assert "t-tidemark-connect" not in {u["metadata"]["name"] for u in by_kind(docs, "KafkaUser")}
        assert "t-tidemark-mysql-debezium" not in planned(docs)


def acls(user: dict[str, Any]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    """A KafkaUser's ACLs as (resource type, name, pattern, operations)."""
    return {
        (
            a["resource"]["type"],
            a["resource"].get("name", ""),
            a["resource"].get("patternType", "literal"),
            tuple(sorted(a["operations"])),
        )
        for a in user["spec"]["authorization"]["acls"]
    }


class TestKafkaAuthentication:
    def test_should_authenticate_every_client_and_authorize_by_acl(self) -> None:
        kafka = named(render_chart(), "Kafka", "t-tidemark")["spec"]
        assert [listener["authentication"] for listener in kafka["kafka"]["listeners"]] == [{"type": "scram-sha-512"}]
        assert kafka["kafka"]["authorization"] == {"type": "simple"}
        assert "userOperator" in kafka["entityOperator"], "nothing would reconcile the KafkaUsers"

    def test_should_let_the_producer_write_exactly_the_enabled_streams_topics(self) -> None:
        docs = render_chart({"streams": {"ads": {"enabled": False}}})
        user = named(docs, "KafkaUser", "t-tidemark-producer")
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == "t-tidemark"
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert acls(user) == {("topic", t, "literal", ("Describe", "Write")) for t in STREAM_TOPICS if t != "ad_topic"}

    def test_should_let_the_jobs_read_the_streams_and_the_cdc_topic_in_their_groups(self) -> None:
        docs = render_chart()
        assert acls(named(docs, "KafkaUser", "t-tidemark-jobs")) == {
            *(("topic", t, "literal", ("Describe", "Read")) for t in STREAM_TOPICS),
            ("topic", "tidemark.recruit.job", "literal", ("Describe", "Read")),
            ("group", "t-tidemark-jobs", "prefix", ("Describe", "Read")),
        }
        assert named(docs, "ConfigMap", "t-tidemark-jobs")["data"]["TIDEMARK_KAFKA_GROUP_PREFIX"] == "t-tidemark-jobs"

    def test_should_let_connect_own_its_topics_and_debeziums_only(self) -> None:
        docs = render_chart({"kafkaConnect": {"connector": {"topicPrefix": "cdc"}}})
        everything = ("Create", "Describe", "DescribeConfigs", "Read", "Write")
        assert acls(named(docs, "KafkaUser", "t-tidemark-connect")) == {
            ("group", "t-tidemark-connect", "literal", ("Describe", "Read")),
            ("topic", "t-tidemark-connect-configs", "literal", everything),
            ("topic", "t-tidemark-connect-offsets", "literal", everything),
            ("topic", "t-tidemark-connect-status", "literal", everything),
            ("topic", "cdc", "prefix", everything),
            ("group", "cdc", "prefix", ("Describe", "Read")),
            ("cluster", "", "literal", ("DescribeConfigs",)),
        }
        connect = named(docs, "KafkaConnect", "t-tidemark-connect")["spec"]
        assert connect["authentication"] == {
            "type": "scram-sha-512",
            "username": "t-tidemark-connect",
            "passwordSecret": {"secretName": "t-tidemark-connect", "password": "password"},
        }
        assert connect["tls"] == {
            "trustedCertificates": [{"secretName": "t-tidemark-cluster-ca-cert", "certificate": "ca.crt"}]
        }
        config = named(docs, "KafkaConnector", "t-tidemark-recruit-job")["spec"]["config"]
        for client in ("producer", "consumer"):
            assert config[f"schema.history.internal.{client}.security.protocol"] == "SASL_SSL"
            assert config[f"schema.history.internal.{client}.ssl.truststore.type"] == "PEM"
            # As PEM through the secrets provider: Strimzi 1.x mounts no certificate file.
            assert config[f"schema.history.internal.{client}.ssl.truststore.certificates"] == (
                "${secrets:tidemark/t-tidemark-cluster-ca-cert:ca.crt}"
            )
            assert config[f"schema.history.internal.{client}.sasl.jaas.config"] == (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                'username="t-tidemark-connect" password="${secrets:tidemark/t-tidemark-connect:password}";'
            )

    def test_should_give_each_process_its_own_users_password_from_strimzis_secret(self) -> None:
        docs = render_chart()
        seen = {}
        for kind in ("Deployment", "CronJob", "Job"):
            for doc in by_kind(docs, kind):
                spec = doc["spec"]["template"]["spec"] if kind != "CronJob" else None
                spec = spec or doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
                for container in spec["containers"]:
                    env = settings_of(container, spec)
                    if (
                        container.get("command", [])[:2] != ["python", "-m"]
                        or container["command"][2] == "jobs.passwords"
                    ):
                        continue
                    client = "producer" if container["command"][2] == "producer" else "jobs"
                    assert env["TIDEMARK_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
                    # Every client verifies the brokers against the cluster CA, mounted as a file.
                    assert env["TIDEMARK_KAFKA_CA_FILE"] == "/etc/tidemark/ca/kafka.crt"
                    assert CA_MOUNT in container["volumeMounts"]
                    volume = next(v for v in spec["volumes"] if v["name"] == "ca")
                    assert volume["projected"]["sources"][0] == {
                        "secret": {
                            "name": "t-tidemark-cluster-ca-cert",
                            "items": [{"key": "ca.crt", "path": "kafka.crt"}],
                        }
                    }
                    assert env["TIDEMARK_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
                    assert env["TIDEMARK_KAFKA_USERNAME"] == f"t-tidemark-{client}"
                    ref = env["TIDEMARK_KAFKA_PASSWORD"]["secretKeyRef"]
                    assert ref == {"name": f"t-tidemark-{client}", "key": "password"}
                    seen[doc["metadata"]["name"]] = client
        assert set(seen.values()) == {"producer", "jobs"} and len(seen) >= 6

    def test_should_hand_the_executors_the_cluster_ca_at_the_drivers_path(self) -> None:
        docs = render_chart(values_files=[CI / "spark-kubernetes.yaml"])
        template = yaml.safe_load(named(docs, "ConfigMap", "t-tidemark-spark-pod-template")["data"]["executor.yaml"])
        executor = template["spec"]["containers"][0]
        assert CA_MOUNT in executor["volumeMounts"]
        volume = next(v for v in template["spec"]["volumes"] if v["name"] == "ca")
        assert volume["projected"]["sources"][0]["secret"]["name"] == "t-tidemark-cluster-ca-cert"

    def test_should_mount_an_external_kafkas_ca_from_the_users_secret(self) -> None:
        docs = render_chart(
            {"kafka": {"external": {"caSecret": {"name": "their-ca", "key": "root.pem"}}}},
            values_files=[CI / "external-stores.yaml"],
            api_versions=(),
        )
        producer = named(docs, "Deployment", "t-tidemark-producer-tracking")["spec"]["template"]["spec"]
        assert env_of(producer["containers"][0])["TIDEMARK_KAFKA_CA_FILE"] == "/etc/tidemark/ca/kafka.crt"
        volume = next(v for v in producer["volumes"] if v["name"] == "ca")
        assert volume["projected"]["sources"][0] == {
            "secret": {"name": "their-ca", "items": [{"key": "root.pem", "path": "kafka.crt"}]}
        }

    def test_should_log_in_to_an_external_kafka_with_the_users_own_secrets(self) -> None:
        docs = render_chart(values_files=[CI / "external-stores.yaml"], api_versions=())
        assert not by_kind(docs, "KafkaUser")
        producer = named(docs, "Deployment", "t-tidemark-producer-tracking")["spec"]["template"]["spec"]
        env = settings_of(producer["containers"][0], producer)
        assert env["TIDEMARK_KAFKA_USERNAME"] == "tidemark-producer"
        assert env["TIDEMARK_KAFKA_PASSWORD"]["secretKeyRef"] == {"name": "kafka-producer", "key": "password"}

    def test_should_refuse_an_external_sasl_kafka_without_a_password_secret(self) -> None:
        values = {"kafka": {"external": {"enabled": True, "bootstrapServers": "k:9092"}}}
        with pytest.raises(RenderError, match=r"kafka\.external\.users\.(jobs|producer)\.existingSecret is required"):
            render_chart(values)

    def test_should_give_no_login_to_a_plaintext_external_kafka(self) -> None:
        values = {
            "kafka": {"external": {"enabled": True, "bootstrapServers": "k:9092", "securityProtocol": "PLAINTEXT"}}
        }
        config = named(render_chart(values), "ConfigMap", "t-tidemark-jobs")["data"]
        ingest = named(render_chart(values), "Deployment", "t-tidemark-ingest")["spec"]["template"]["spec"]
        env = settings_of(ingest["containers"][0], ingest)
        assert env["TIDEMARK_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
        assert "TIDEMARK_KAFKA_PASSWORD" not in env and config["TIDEMARK_KAFKA_GROUP_PREFIX"]


class TestDebeziumAccount:
    def test_should_connect_as_the_configured_user_with_a_password_from_its_own_secret(self) -> None:
        docs = render_chart({"kafkaConnect": {"connector": {"user": "cdc"}}})
        config = named(docs, "KafkaConnector", "t-tidemark-recruit-job")["spec"]["config"]
        assert config["database.user"] == "cdc"
        assert config["database.password"] == "${secrets:tidemark/t-tidemark-mysql-debezium:password}"
        assert config["snapshot.locking.mode"] == "none", "its user may not lock tables"
        secrets = planned(docs)
        assert secrets["t-tidemark-mysql-debezium"] == {"password": secrets["t-tidemark-mysql"]["debezium-password"]}
        grants = account_grants(docs)
        # Rows of the recruit database only: SELECT ON *.* would include the account tables.
        assert grants["cdc"] == {
            "RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.*",
            "SELECT ON `recruit`.*",
        }

    def test_should_let_connect_read_only_that_secret(self) -> None:
        role = named(render_chart(), "Role", "t-tidemark-connect-secrets")
        assert role["rules"] == [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                # ...its own Kafka login and the brokers' CA, for Debezium's schema-history clients,
                # and the password of MySQL's truststore.
                "resourceNames": [
                    "t-tidemark-mysql-debezium",
                    "t-tidemark-connect",
                    "t-tidemark-cluster-ca-cert",
                    "t-tidemark-stores",
                ],
                "verbs": ["get"],
            }
        ]

    def test_should_refuse_a_users_mysql_secret_without_one_for_debezium(self) -> None:
        auth = {"existingSecret": "mine", "existingSecrets": {"jobs": "j", "producer": "p", "migrate": "m"}}
        with pytest.raises(RenderError, match=r"kafkaConnect\.connector\.existingSecret is required"):
            render_chart({"mysql": {"auth": auth}})
        docs = render_chart({"mysql": {"auth": auth}, "kafkaConnect": {"connector": {"existingSecret": "cdc"}}})
        assert "${secrets:tidemark/cdc:password}" in str(named(docs, "KafkaConnector", "t-tidemark-recruit-job"))
        assert not [name for name in planned(docs) if name.startswith("t-tidemark-mysql")]
