"""The bench's memory of a process tree counts pages a forked child shares with its parent once."""

from __future__ import annotations

import os
import signal
import time

from bench.probe import rss_mib


def test_should_not_count_a_forked_childs_shared_pages_twice() -> None:
    before = rss_mib({os.getpid()})
    ballast = bytearray(os.urandom(1 << 20)) * 200  # 200 MiB resident in this process
    child = os.fork()
    if child == 0:  # the child shares every page until it writes one, as a JVM's fork before exec
        time.sleep(30)
        os._exit(0)
    try:
        time.sleep(0.2)
        both = rss_mib({os.getpid(), child})
        # By RSS the two would count the 200 MiB (and the interpreter) twice.
        assert 200 < both < before + 200 + 50, (before, both)
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    assert len(ballast) == 200 << 20
