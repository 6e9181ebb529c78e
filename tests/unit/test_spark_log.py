"""jobs/log4j2.properties, read by the log4j2 that Spark ships: which of Spark's lines a job's log keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

CONFIG = Path(__file__).resolve().parents[2] / "jobs" / "log4j2.properties"
TRANSPORT = "org.apache.spark.network.server.TransportRequestHandler"


@pytest.fixture(scope="module")
def configuration(spark: SparkSession) -> Any:
    """The file loaded into a logger context of its own, so the session's logging is untouched."""
    jvm = spark.sparkContext._jvm
    context = jvm.org.apache.logging.log4j.core.LoggerContext("tidemark-log-config")
    context.setConfigLocation(jvm.java.io.File(str(CONFIG)).toURI())
    yield context.getConfiguration()
    context.stop()


def dropped(spark: SparkSession, configuration: Any, logger: str, message: str) -> bool:
    jvm = spark.sparkContext._jvm
    core = jvm.org.apache.logging.log4j.core
    event = (
        core.impl.Log4jLogEvent.newBuilder()
        .setLoggerName(logger)
        .setLevel(jvm.org.apache.logging.log4j.Level.ERROR)
        .setMessage(jvm.org.apache.logging.log4j.message.SimpleMessage(message))
        .build()
    )
    return bool(configuration.getLoggerConfig(logger).isFiltered(event))


def test_an_answer_to_an_executor_already_gone_is_not_an_error_line(spark: SparkSession, configuration: Any) -> None:
    gone = (
        "Error sending result RpcResponse[requestId=6,body=NioManagedBuffer[buf=x]] to /127.0.0.1:41234;"
        " closing connection"
    )
    assert dropped(spark, configuration, TRANSPORT, gone)


def test_every_other_transport_error_still_shows(spark: SparkSession, configuration: Any) -> None:
    assert not dropped(spark, configuration, TRANSPORT, "Error while invoking RpcHandler#receive() on RPC id 7")
    assert not dropped(
        spark, configuration, "org.apache.spark.SparkContext", "Error sending result x; closing connection"
    )
