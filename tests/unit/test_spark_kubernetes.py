"""The Spark configuration of client mode on Kubernetes (pure: no session is started)."""

from __future__ import annotations

from jobs.settings import JobSettings
from jobs.spark import kubernetes_conf

K8S = {
    "spark_master": "k8s://https://kubernetes.default.svc",
    "spark_kubernetes_image": "tidemark/jobs:0.1.0",
    "spark_driver_host": "10.0.0.7",
}


def test_should_run_executors_from_the_pod_template_when_one_is_given() -> None:
    conf = kubernetes_conf(JobSettings(**K8S, spark_executor_pod_template="/etc/tidemark/spark/executor.yaml"))
    assert conf["spark.kubernetes.executor.podTemplateFile"] == "/etc/tidemark/spark/executor.yaml"
    assert conf["spark.driver.host"] == "10.0.0.7"
    assert conf["spark.submit.deployMode"] == "client"


def test_should_leave_spark_its_own_executor_pods_without_a_template() -> None:
    assert "spark.kubernetes.executor.podTemplateFile" not in kubernetes_conf(JobSettings(**K8S))


def test_should_name_the_driver_pod_so_spark_makes_it_the_executors_owner() -> None:
    conf = kubernetes_conf(JobSettings(**K8S, spark_driver_pod_name="t-tidemark-aggregate-29-x7"))
    assert conf["spark.kubernetes.driver.pod.name"] == "t-tidemark-aggregate-29-x7"
    assert "spark.kubernetes.driver.pod.name" not in kubernetes_conf(JobSettings(**K8S))


def test_should_request_the_executor_cpu_given_and_sparks_default_otherwise() -> None:
    conf = kubernetes_conf(JobSettings(**K8S, spark_executor_request_cores="100m"))
    assert conf["spark.kubernetes.executor.request.cores"] == "100m"
    assert conf["spark.executor.cores"] == "1", "the tasks an executor runs at once stay as they are"
    assert "spark.kubernetes.executor.request.cores" not in kubernetes_conf(JobSettings(**K8S))


def test_should_listen_on_loopback_only_when_the_driver_advertises_loopback() -> None:
    assert kubernetes_conf(JobSettings(**K8S))["spark.driver.bindAddress"] == "0.0.0.0"
    conf = kubernetes_conf(JobSettings(**{**K8S, "spark_driver_host": "127.0.0.1"}))
    assert (conf["spark.driver.host"], conf["spark.driver.bindAddress"]) == ("127.0.0.1", "127.0.0.1")


def test_should_never_ask_to_delete_claims_the_drivers_role_may_not_touch() -> None:
    assert kubernetes_conf(JobSettings(**K8S))["spark.kubernetes.driver.ownPersistentVolumeClaim"] == "false"


def test_should_run_the_executors_python_in_utc_whatever_the_image_says() -> None:
    assert kubernetes_conf(JobSettings(**K8S))["spark.executorEnv.TZ"] == "UTC"


def test_should_let_executors_pick_their_block_manager_port_so_several_share_a_node() -> None:
    """Spark declares a fixed port as the executor pod's containerPort, a port of the node on the
    host network; with 0 it declares none."""
    assert kubernetes_conf(JobSettings(**K8S))["spark.blockManager.port"] == "0"
