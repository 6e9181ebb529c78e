"""The three images built from the real Dockerfiles and run against the local stack
(`buildah run --isolation chroot --network host`, since no Docker engine runs here)."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from local import debezium, kafka_users, stack, tls, topics
from local.servers import kafka as kafka_server
from oracles.ads import expected_windows
from oracles.tracking import expected_events
from producer.ads import AdEventFactory
from tests.integration.conftest import (
    KAFKA,
    ROOT,
    connector_task_state,
    create_connector,
    eventually,
    http_json,
    mysql_connect,
    unique,
)
from tests.integration.test_stack import consume
from tests.integration.test_tracking_pipeline import factory

IMAGES = ROOT / "scripts" / "images.sh"
CONNECT_MAIN = "org.apache.kafka.connect.cli.ConnectDistributed"
pytestmark = pytest.mark.usefixtures("built")


def image_names() -> list[str]:
    return subprocess.run([str(IMAGES), "names"], capture_output=True, text=True, check=True).stdout.split()


@pytest.fixture(scope="session")
def built() -> None:
    done = subprocess.run([str(IMAGES), "build"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    print(done.stdout)


class Container:
    """A working container of an image; `run` executes a command in it on the host network."""

    def __init__(self, image: str) -> None:
        self.name = subprocess.run(
            ["buildah", "from", "--pull=never", f"localhost/{image}"], capture_output=True, text=True, check=True
        ).stdout.strip()

    def argv(self, env: dict[str, str], volumes: dict[Path, str], command: list[str]) -> list[str]:
        argv = ["buildah", "run", "--isolation", "chroot", "--network", "host"]
        # The stack's CA and truststore at their host paths: the settings made on the host name them.
        for public in (tls.CA, tls.TRUSTSTORE):
            argv += ["--volume", f"{public}:{public}:ro"]
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        for host, inside in volumes.items():
            argv += ["--volume", f"{host}:{inside}"]
        return [*argv, self.name, "--", *command]

    def run(self, command: list[str], env: dict[str, str] | None = None, timeout: int = 600) -> str:
        done = subprocess.run(self.argv(env or {}, {}, command), capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{command} in {self.name}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        return done.stdout + done.stderr

    def remove(self) -> None:
        subprocess.run(["buildah", "rm", self.name], capture_output=True, check=False)


@pytest.fixture
def container(request: pytest.FixtureRequest) -> Iterator[Any]:
    made: list[Container] = []

    def make(image: str) -> Container:
        made.append(Container(image))
        return made[-1]

    yield make
    for c in made:
        c.remove()


def stack_env(name: str) -> dict[str, str]:
    # The image carries Spark's jars and its own checkpoints: not the host's paths.
    endpoints = {k: v for k, v in stack.tidemark_env().items() if not k.endswith(("_DIR", "PUSHGATEWAY"))}
    return {
        **endpoints,
        "TIDEMARK_TRACKING_TOPIC": f"{name}.tracking",
        "TIDEMARK_ADS_TOPIC": f"{name}.ads",
        "TIDEMARK_CASSANDRA_KEYSPACE": name,
        "TIDEMARK_MYSQL_DATABASE": name,
        "TIDEMARK_RECRUIT_DATABASE": f"{name}_recruit",
        "TIDEMARK_CHECKPOINT_DIR": "/tmp/checkpoints",
    }


def test_should_build_with_clean_hadolint() -> None:
    hadolint = ROOT / ".venv" / "bin" / "hadolint"
    for dockerfile in sorted((ROOT / "images").glob("*/Dockerfile")):
        done = subprocess.run([str(hadolint), str(dockerfile)], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout


def test_should_match_the_charts_default_images() -> None:
    values = yaml.safe_load((ROOT / "charts" / "tidemark" / "values.yaml").read_text())
    chart = {
        f"{values[k]['image']['repository']}:{values[k]['image']['tag']}" for k in ("producer", "jobs", "kafkaConnect")
    }
    assert chart == set(image_names())


def test_should_run_non_root() -> None:
    for image in image_names():
        user = subprocess.run(
            ["buildah", "inspect", "--type", "image", "--format", "{{.OCIv1.Config.User}}", f"localhost/{image}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert user and user.split(":")[0] not in ("0", "root"), (image, user)


def test_producer_image_sends_beacons_to_kafka(container: Any) -> None:
    name = unique("img")
    topics.ensure(KAFKA, [f"{name}.tracking"])  # as the chart's KafkaTopic would
    producer = container(image_names()[0])
    out = producer.run(
        ["python", "-m", "producer"],
        env={
            **stack_env(name),
            "TIDEMARK_PRODUCER_RATE": "0",
            "TIDEMARK_PRODUCER_MAX_EVENTS": "400",
            "TIDEMARK_PRODUCER_METRICS_PORT": "0",
            "TIDEMARK_PRODUCER_DUPLICATE_RATE": "0",
        },
    )
    assert "sent 400 beacons" in out
    records = consume(f"{name}.tracking", 400, timeout_s=60)
    assert len({orjson.loads(r.value)["create_time"] for r in records}) == 400


def test_jobs_image_migrates_ingests_and_aggregates_into_mariadb(container: Any) -> None:
    from kafka import KafkaProducer

    name = unique("img")
    beacons = list(factory(71).stream(600, datetime.now(timezone.utc), spread=timedelta(minutes=10)))
    ads = list(AdEventFactory(seed=72, ads=6).stream(300, datetime.now(timezone.utc)))
    topics.ensure(KAFKA, [f"{name}.tracking", f"{name}.ads"])
    producer = KafkaProducer(**kafka_users.kafka_python(KAFKA, kafka_users.PRODUCER), acks="all")
    for b in beacons:
        producer.send(f"{name}.tracking", orjson.dumps(b))
    for key, value in ads:
        producer.send(f"{name}.ads", key=key, value=value)  # the ads stream parses in Python workers
    producer.flush()
    producer.close()

    jobs = container(image_names()[1])
    for job in ("migrate", "ingest", "aggregate"):
        out = jobs.run(["python", "-m", "jobs", job], env=stack_env(name), timeout=900)
        assert f"{job} done" in out, out[-3000:]

    conn = mysql_connect(name)
    cur = conn.cursor()
    cur.execute("SELECT job_id, dates, hours, publisher_id, campaign_id, group_id, clicks, spend_hour FROM events")
    got = {tuple(r[:6]): (r[6], r[7]) for r in cur.fetchall()}
    cur = conn.cursor()
    cur.execute("SELECT ad_id, window_start, total_clicks, total_cost FROM ad_window_stats")
    got_ads = {tuple(r[:2]): (r[2], r[3]) for r in cur.fetchall()}
    conn.close()
    want = {k: (v["clicks"], v["spend_hour"]) for k, v in expected_events(beacons).items()}
    assert got == want
    want_ads = {k: (w["total_clicks"], w["total_cost"]) for k, w in expected_windows(v for _, v in ads).items()}
    assert got_ads == want_ads


def test_connect_image_loads_the_debezium_plugin_and_streams_changes(container: Any, tmp_path: Path) -> None:
    name = unique("img")
    database = f"{name}_recruit"  # Debezium's login reads the recruit databases' rows only
    port = 18099
    internal = f"{kafka_users.CONNECT_INTERNAL_PREFIX}{name}-"
    (tmp_path / "connect.properties").write_text(
        f"bootstrap.servers={KAFKA}\ngroup.id={kafka_users.CONNECT_GROUP}-{name}\nlisteners=http://127.0.0.1:{port}\n"
        + stack.connect_worker_sasl()
        + "plugin.path=/opt/kafka/plugins\n"
        "key.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "key.converter.schemas.enable=false\nvalue.converter.schemas.enable=false\n"
        f"config.storage.topic={internal}configs\noffset.storage.topic={internal}offsets\n"
        f"status.storage.topic={internal}status\n"
        "config.storage.replication.factor=1\noffset.storage.replication.factor=1\nstatus.storage.replication.factor=1\n"
    )
    (tmp_path / "log4j2.properties").write_text(kafka_server.LOG4J2)
    # The image runs as Strimzi's user 1001: let it read the mounted configuration.
    tmp_path.chmod(0o755)
    for f in tmp_path.iterdir():
        f.chmod(0o644)
    connect = container(image_names()[2])
    command = ["java", "-Xmx384m", "-Dlog4j2.configurationFile=/conf/log4j2.properties", "-cp", "/opt/kafka/libs/*"]
    argv = connect.argv({}, {tmp_path: "/conf"}, [*command, CONNECT_MAIN, "/conf/connect.properties"])
    log = (tmp_path / "connect.log").open("w")
    worker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    conn = mysql_connect()
    cur = conn.cursor()
    try:
        plugins = eventually(lambda: _plugins(url), 120, "the Connect REST API in the image")
        assert {
            "io.debezium.connector.mysql.MySqlConnector",
            "io.debezium.connector.mariadb.MariaDbConnector",
        } <= plugins

        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"CREATE TABLE {database}.job (id INT PRIMARY KEY, company_id INT NOT NULL)")
        connector = debezium.config(database, name, server_id=uuid.uuid4().int % 1_000_000 + 10_000)
        create_connector(url, name, connector)
        eventually(lambda: connector_task_state(url, name) == "RUNNING", 90, "the connector RUNNING in the image")
        cur.execute(f"INSERT INTO {database}.job VALUES (3, 9)")
        event = orjson.loads(consume(f"{name}.{database}.job", 1, timeout_s=60)[0].value)
        assert event.get("after") == {"id": 3, "company_id": 9}, event
    except BaseException:
        print((tmp_path / "connect.log").read_text()[-5000:])
        raise
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
        cur.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.close()


def _plugins(url: str) -> set[str] | None:
    try:
        return {p["class"] for p in http_json(f"{url}/connector-plugins")}
    except OSError:
        return None
