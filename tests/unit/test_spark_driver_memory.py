"""TIDEMARK_SPARK_DRIVER_MEMORY sizes the driver JVM's heap: it must reach the JVM when it starts,
which a setting applied to a running session would not."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
from jobs.settings import load
from jobs.spark import session
spark = session(load(), "heap-probe")
print(spark.sparkContext._jvm.java.lang.Runtime.getRuntime().maxMemory())
spark.stop()
"""


def max_heap_mib(**env: str) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**os.environ, "TIDEMARK_SPARK_JARS_DIR": "", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1]) / 2**20


def test_should_start_the_driver_with_the_heap_it_is_given() -> None:
    # The JVM reports a little less than -Xmx (one survivor space is not counted); Spark
    # itself refuses a driver below 450 MiB.
    assert 450 <= max_heap_mib(TIDEMARK_SPARK_DRIVER_MEMORY="512m") <= 512
