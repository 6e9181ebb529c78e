"""Spark Observations: metrics a pass computes as it reads (rows, counts, the newest time),
so that no second pass, and no cache, is needed just to know them."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from pyspark.sql import Observation

# The metrics reach the driver through Spark's listener bus a moment after the job ends; a
# busy driver's bus can lag, and what waits on them fails rather than guess.
WAIT_SECONDS = 60.0
EPOCH = datetime(1970, 1, 1)


def reported(observation: Observation, deadline: float) -> bool:
    """Whether an observation's metrics came by `deadline` (PySpark's `get` would wait for ever;
    its JVM side's future tells)."""
    observed = observation._jo  # the JVM's Observation, once a frame observes with it
    if observed is None:
        return False
    future = observed.future()
    while not future.isCompleted():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def from_micros(micros: int) -> datetime:
    """A time observed as µs since the epoch (an observed timestamp or array reaches Python as a
    Java object, a number or a string as itself), as the naive UTC datetime the jobs use."""
    return EPOCH + timedelta(microseconds=micros)
