"""Long-running local servers as detached child processes, for the stack's servers
(local/stack.py) and the control plane's and node's (local/apiserver.py, local/node.py): start
one with its log and pid file, wait until it answers, stop it, tell its state.

A server outlives the command that started it (its own session); its pid file is the only
link, so `up` leaves a running one alone and `down` finds it from any shell.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from local import pidfile

HOST = "127.0.0.1"


class SupervisorError(Exception):
    """A server that could not start or answer: says which, why, and the end of its log."""


@dataclass
class Server:
    name: str
    port: int  # 0: it listens on no TCP port (a unix socket)
    argv: Callable[[], list[str]]  # prepares its files and gives its command line
    ready: Callable[[], bool]
    deadline_s: float
    home: Path  # pid file under run/, log under logs/, the working directory
    # After it answers, every `up` (idempotent: an older stack gets today's accounts and grants).
    after_start: Callable[[], None] = field(default=lambda: None)

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.pid"

    @property
    def log(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"

    def pid(self) -> int | None:
        return pidfile.read(self.pid_file)


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def answers_ok(url: str, context: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log yet)"


def start(server: Server) -> subprocess.Popen[bytes]:
    if server.port and port_open(server.port):
        raise SupervisorError(
            f"{server.name}: port {HOST}:{server.port} is already taken by another process; "
            f"stop it or set TIDEMARK_{server.name.upper().replace('-', '_')}_PORT"
        )
    argv = server.argv()
    server.log.parent.mkdir(parents=True, exist_ok=True)
    server.pid_file.parent.mkdir(parents=True, exist_ok=True)
    with server.log.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=server.home,
            start_new_session=True,
        )
    pidfile.write(server.pid_file, proc.pid)
    return proc


def wait_ready(server: Server, proc: subprocess.Popen[bytes] | None, usually: float | None = None) -> None:
    """Until the server answers; says every 10 s that it is still starting (and how long its
    last start here took); fails when it exits or its deadline passes."""
    started = time.monotonic()
    deadline = started + server.deadline_s
    said = started
    while time.monotonic() < deadline:
        if server.ready():
            return
        if time.monotonic() - said >= 10:
            said = time.monotonic()
            estimate = f" (last start here took {usually:.0f}s)" if usually else ""
            print(f"  {server.name}: starting, {said - started:.0f}s{estimate}", file=sys.stderr, flush=True)
        if proc is not None and proc.poll() is not None:
            raise SupervisorError(
                f"{server.name} exited with code {proc.returncode} while starting; "
                f"log {server.log}:\n{tail(server.log)}"
            )
        time.sleep(0.3)
    raise SupervisorError(
        f"{server.name} was not ready within {server.deadline_s:.0f}s; log {server.log}:\n{tail(server.log)}"
    )


def up(servers: list[Server], width: int = 24, timings: Path | None = None) -> None:
    """Starts each server that is not running, in order, each ready before the next.
    `timings`: a JSON file remembering how long each start took, to tell the next one."""
    for server in servers:
        took = read_timings(timings)
        pid = server.pid()
        if pid is not None:
            wait_ready(server, None)
            server.after_start()
            print(f"{server.name:{width}} already up (pid {pid}, port {server.port})")
            continue
        t0 = time.monotonic()
        proc = start(server)
        wait_ready(server, proc, took.get(server.name))
        server.after_start()
        seconds = time.monotonic() - t0
        if timings is not None:
            timings.write_text(json.dumps(took | {server.name: round(seconds, 1)}))
        print(f"{server.name:{width}} up in {seconds:5.1f}s (pid {proc.pid}, port {server.port})", flush=True)


def read_timings(path: Path | None) -> dict[str, float]:
    try:
        return dict(json.loads(path.read_text())) if path is not None else {}
    except (OSError, ValueError):
        return {}


def stop(server: Server, grace_s: float = 45, width: int = 24) -> None:
    stopped = pidfile.stop(server.pid_file, grace_s)
    print(f"{server.name:{width}} {'stopped' if stopped else 'already down'}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(servers: list[Server], width: int = 24) -> tuple[int, float]:
    """A line per server (state, pid, port, RSS, log); gives how many are down and their RSS."""
    missing, total = 0, 0.0
    for server in servers:
        pid = server.pid()
        if pid is None:
            missing += 1
            print(f"{server.name:{width}} down")
            continue
        rss = rss_mib(pid)
        total += rss
        state = "up" if server.ready() else "starting"
        print(
            f"{server.name:{width}} {state:8} pid {pid:<8} port {server.port:<6} rss {rss:7.0f} MiB  log {server.log}"
        )
    return missing, total
