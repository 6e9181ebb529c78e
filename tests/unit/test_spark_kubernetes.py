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
