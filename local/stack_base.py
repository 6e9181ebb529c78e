"""What the local stack's server modules (local/servers/) and its control (local/stack.py)
share: where it lives, its ports and accounts, and how it fetches jars from Maven Central."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from local import supervisor
from local.supervisor import SupervisorError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
HOST = supervisor.HOST  # every local server listens on loopback only

STACK = Path(os.environ.get("TIDEMARK_STACK_DIR", ROOT / ".stack")).resolve()
CACHE = Path(os.environ.get("TIDEMARK_CACHE_DIR", Path.home() / ".cache" / "tidemark"))


def port(name: str, default: int) -> int:
    raw = os.environ.get(f"TIDEMARK_{name}_PORT", str(default))
    if not raw.isdigit():
        sys.exit(f"TIDEMARK_{name}_PORT must be a port number, got {raw!r}")
    return int(raw)


PORTS = {
    "mariadb": port("MARIADB", 13306),
    "kafka": port("KAFKA", 19092),
    "kafka_controller": port("KAFKA_CONTROLLER", 19093),
    "cassandra": port("CASSANDRA", 19042),
    "cassandra_storage": port("CASSANDRA_STORAGE", 17000),
    "connect": port("CONNECT", 18083),
    "pushgateway": port("PUSHGATEWAY", 19091),
    "prometheus": port("PROMETHEUS", 19090),
    "registry": port("REGISTRY", 18081),
}


def producer_metrics_ports() -> list[int]:
    """Where local producers serve /metrics, one port per registered stream from the first
    (TIDEMARK_PRODUCER_METRICS_PORT): the demo starts them there and Prometheus scrapes them."""
    from producer.streams import PRODUCERS

    first = port("PRODUCER_METRICS", 18000)
    return [first + index for index in range(len(PRODUCERS))]


# A Confluent-API schema registry (Apicurio serves the Confluent API under this path). Not in
# tidemark_env(): the demo and most tests use the ads stream's built-in schema; the registry
# tests point the producer and the jobs at it explicitly.
REGISTRY_URL = f"http://{HOST}:{PORTS['registry']}/apis/ccompat/v7"
# The newest Apicurio Registry 3 on Maven Central that runs on Java 17 (3.3 needs Java 21).
APICURIO_VERSION = "3.0.9"

# One MariaDB account per component, as on the chart (templates/mysql/configmap.yaml), and the
# processes' default settings name them; local-only, so plain passwords.
APP_USER, APP_PASSWORD = "tidemark", "tidemark"  # the jobs
PRODUCER_USER, PRODUCER_PASSWORD = "tidemark_producer", "tidemark_producer"
OWNER_USER, OWNER_PASSWORD = "tidemark_migrate", "tidemark_migrate"  # migrate, and the tests' own set-up
DEBEZIUM_USER, DEBEZIUM_PASSWORD = "debezium", "debezium"
GRAFANA_USER, GRAFANA_PASSWORD = "grafana", "grafana"
# Cassandra's superuser (migrate's, and the tests' own set-up and checks); the jobs' role
# `tidemark` is migrate's to create (jobs/migrate.py).
CASSANDRA_ADMIN, CASSANDRA_ADMIN_PASSWORD = "cassandra", "cassandra"


class StackError(SupervisorError):
    pass


def jars(pom: str, exclude_groups: str = "") -> Path:
    """Copies a pom's runtime jars into the cache once per pom content; later calls are free."""
    import hashlib

    digest = hashlib.sha256((HERE / "maven" / f"{pom}.xml").read_bytes() + exclude_groups.encode()).hexdigest()[:8]
    dest = CACHE / "jars" / f"{pom}-{digest}"
    marker = dest / ".complete"
    if marker.exists():
        return dest
    shutil.rmtree(dest, ignore_errors=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(HERE / "maven" / f"{pom}.xml"),
        "dependency:copy-dependencies",
        "-DincludeScope=runtime",
        f"-DoutputDirectory={dest}",
    ]
    if exclude_groups:
        cmd.append(f"-DexcludeGroupIds={exclude_groups}")
    print(f"  fetching {pom} jars from Maven Central (cached in {dest})", file=sys.stderr, flush=True)
    done = downloading(cmd, f"{pom} jars", JAR_MB.get(pom))
    if done.returncode != 0:
        raise StackError(f"maven could not fetch the {pom} jars:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    marker.touch()
    return dest


# What each download weighs, measured here: the estimate `stack-up` shows while it fetches.
JAR_MB = {"kafka": 55, "cassandra": 67, "debezium": 23, "spark": 83, "apicurio": 105}


def tree_mb(path: Path) -> float:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total / 2**20


def downloading(
    cmd: list[str], what: str, expected_mb: int | None, every_s: float = 10
) -> subprocess.CompletedProcess[str]:
    """Runs a Maven download, saying every `every_s` how far it got (what ~/.m2 gained)."""
    repository = Path.home() / ".m2" / "repository"
    before = tree_mb(repository)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while True:
        try:
            output, _ = proc.communicate(timeout=every_s)
            break
        except subprocess.TimeoutExpired:
            got = tree_mb(repository) - before
            of = f" of ~{expected_mb} MB" if expected_mb else " MB"
            print(f"  {what}: {got:.0f}{of}, {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, output, "")


def java(*args: str) -> list[str]:
    return ["java", "-XX:+ExitOnOutOfMemoryError", *args]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
