"""Pid files of the local servers: a pid reused after a reboot must not pass for the server."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from local import pidfile


def test_should_find_the_process_it_recorded(tmp_path: Path) -> None:
    path = tmp_path / "run" / "server.pid"
    pidfile.write(path, os.getpid())
    assert pidfile.read(path) == os.getpid()


def test_should_not_mistake_another_process_with_the_same_pid(tmp_path: Path) -> None:
    # What a reboot leaves: the pid is taken by a process that started at another moment.
    path = tmp_path / "server.pid"
    path.write_text(f"{os.getpid()} {pidfile.started(os.getpid()) + 1}\n")  # type: ignore[operator]
    assert pidfile.read(path) is None


def test_should_trust_a_live_pid_from_a_file_without_a_start_time(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    path.write_text(str(os.getpid()))
    assert pidfile.read(path) == os.getpid()


def test_should_not_trust_a_pid_without_a_start_time_that_started_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "server.pid"
    path.write_text(str(os.getpid()))
    os.utime(path, (0, 0))  # written long before this process started
    assert pidfile.read(path) is None


def test_should_read_a_finished_process_as_not_running(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    path = tmp_path / "server.pid"
    pidfile.write(path, child.pid)
    child.wait()
    assert pidfile.read(path) is None
    assert not pidfile.alive(child.pid)


def test_should_read_a_zombie_as_not_running(tmp_path: Path) -> None:
    child = subprocess.Popen(["true"])
    path = tmp_path / "server.pid"
    pidfile.write(path, child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: a zombie
    assert pidfile.read(path) is None
    child.wait()


def test_should_read_a_missing_or_garbled_file_as_not_running(tmp_path: Path) -> None:
    assert pidfile.read(tmp_path / "absent.pid") is None
    (tmp_path / "garbled.pid").write_text("not a pid")
    assert pidfile.read(tmp_path / "garbled.pid") is None


def test_should_stop_the_process_group_a_file_names_and_forget_it(tmp_path: Path) -> None:
    # A server that ignores SIGTERM: the grace runs out and SIGKILL ends it, children included.
    # It says so once the trap is set: a SIGTERM before that would end it early.
    child = subprocess.Popen(
        ["sh", "-c", "trap '' TERM; echo trapped; sleep 60 & wait"], start_new_session=True, stdout=subprocess.PIPE
    )
    assert child.stdout is not None and child.stdout.readline() == b"trapped\n"
    path = tmp_path / "server.pid"
    pidfile.write(path, child.pid)
    assert pidfile.stop(path, grace_s=0.5) is True
    child.wait(timeout=10)
    assert child.returncode == -9 and not path.exists()
    assert pidfile.stop(path) is False
    child.stdout.close()
