"""Each component logs in to the stores as its own account and may do only its part: the local
stack's accounts are the chart's (local/stack.py, jobs/migrate.py)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import mysql.connector
import pytest
from cassandra.cluster import NoHostAvailable
from cassandra.protocol import Unauthorized
from pydantic import SecretStr

from jobs import migrate
from jobs.metrics import RunMetrics
from local import stack

from .conftest import eventually, mysql_connect
from .pipeline import Pipeline


def cql(user: str, password: str, statement: str) -> list[Any]:
    cluster = stack.cassandra_cluster(user, password)
    try:
        return list(cluster.connect().execute(statement))
    finally:
        cluster.shutdown()


def test_should_let_the_jobs_role_change_rows_of_its_keyspace_only(spark: Any, tmp_path: Path) -> None:
    mine, other = Pipeline(spark, tmp_path / "mine"), Pipeline(spark, tmp_path / "other")
    other.migrate()
    role = f"jobs_{uuid.uuid4().hex[:8]}"  # a role granted on `mine` alone
    migrate.run(mine.settings(cassandra_username=role, cassandra_password=role), RunMetrics(job="migrate"))
    try:
        cql(role, role, f"DELETE FROM {mine.name}.tracking_raw WHERE bucket = '2026-01-01' AND shard = 0")
        assert cql(role, role, f"SELECT * FROM {mine.name}.tracking_raw LIMIT 1") == []
        for statement in (
            f"DROP TABLE {mine.name}.tracking_raw",
            f"CREATE TABLE {mine.name}.mine (k int PRIMARY KEY)",
            f"SELECT * FROM {other.name}.tracking_raw LIMIT 1",
        ):
            with pytest.raises(Unauthorized):
                cql(role, role, statement)
    finally:
        cql(stack.CASSANDRA_ADMIN, stack.CASSANDRA_ADMIN_PASSWORD, f"DROP ROLE IF EXISTS {role}")


def test_should_give_the_jobs_role_the_password_migrate_is_given(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    role = f"jobs_{uuid.uuid4().hex[:8]}"
    first = pipeline.settings(cassandra_username=role, cassandra_password="first")
    migrate.run(first, RunMetrics(job="migrate"))
    migrate.run(first, RunMetrics(job="migrate"))  # unchanged: no password change (Cassandra limits their rate)
    rotated = first.model_copy(update={"cassandra_password": SecretStr("second")})

    def rotate() -> bool:
        try:
            migrate.run(rotated, RunMetrics(job="migrate"))
        except NoHostAvailable as e:  # "can only be changed every 5000ms": a moment later
            assert "can only be changed" in str(e), e
            return False
        return True

    try:
        eventually(rotate, 30, "migrate to rotate the jobs' password", interval_s=1)

        def old_refused() -> bool:  # once Cassandra's credentials cache (2 s) lets go of it
            try:
                cql(role, "first", "SELECT release_version FROM system.local")
            except NoHostAvailable:
                return True
            return False

        eventually(old_refused, 30, "the old password to be refused", interval_s=1)
        assert cql(role, "second", f"SELECT * FROM {pipeline.name}.tracking_raw LIMIT 1") == []
    finally:
        cql(stack.CASSANDRA_ADMIN, stack.CASSANDRA_ADMIN_PASSWORD, f"DROP ROLE IF EXISTS {role}")


def test_should_let_the_jobs_change_rows_and_the_producers_only_operational_ones(spark: Any, tmp_path: Path) -> None:
    pipeline = Pipeline(spark, tmp_path)
    pipeline.migrate()
    jobs = mysql_connect(pipeline.name, user=stack.APP_USER, password=stack.APP_PASSWORD)
    try:
        jobs.cursor().execute("DELETE FROM dirty_buckets WHERE stream = 'nothing'")
        for statement in ("CREATE TABLE mine (k INT PRIMARY KEY)", "DROP TABLE events"):
            with pytest.raises(mysql.connector.Error, match="denied"):
                jobs.cursor().execute(statement)
    finally:
        jobs.close()
    producer = mysql_connect(f"{pipeline.name}_recruit", user=stack.PRODUCER_USER, password=stack.PRODUCER_PASSWORD)
    try:
        producer.cursor().execute("DELETE FROM job WHERE id = -1")
        for statement in (f"SELECT * FROM `{pipeline.name}`.events", "DROP TABLE job"):
            with pytest.raises(mysql.connector.Error, match="denied"):
                producer.cursor().execute(statement)
    finally:
        producer.close()
