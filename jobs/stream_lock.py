"""A stream's aggregate run holds it alone: a MySQL named lock, and a lease token that fences
every commit.

Fencing: a run takes the stream's next lease token once it holds the lock, and every
transaction it commits first locks the lease row and checks that the token is still its own
and that its lock connection still holds the lock; otherwise it rolls back and the run stops
(`LockLost`). So a run whose lock connection died (a network cut, a killed session, a host
that froze past `TIDEMARK_AGGREGATE_LOCK_IDLE_SECONDS`) never commits over a newer run. The
lock connection is pinged while the run works and times out on the server when it stops
answering, so a vanished host holds a stream's marks for that long at most.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

import mysql.connector

from jobs.settings import JobSettings
from jobs.spec import RunContext
from jobs.stores import scalar

log = logging.getLogger("tidemark.aggregate")


class LockLost(RuntimeError):
    """This run no longer holds its stream: its transaction was rolled back, and it stops."""


def lock_name(settings: JobSettings, stream: str, job: str = "aggregate") -> str:
    # MySQL lock names are at most 64 characters and server-wide: key by database and stream.
    name = f"tidemark.{job}.{settings.mysql_database}.{stream}"
    return name if len(name) <= 64 else f"tidemark.{job}." + hashlib.sha1(name.encode()).hexdigest()


def acquire(conn: Any, name: str, wait_seconds: int) -> bool:
    """A named lock held by this connection until released or the connection ends (a crashed
    run's lock goes with its connection)."""
    cursor = conn.cursor()
    cursor.execute("SELECT GET_LOCK(%s, %s)", (name, wait_seconds))
    (got,) = cursor.fetchone()
    return bool(got == 1)


def take_lease(conn: Any, stream: str, run: str) -> int:
    """The stream's next fencing token, now this run's. Waits while an older run commits."""
    cursor = conn.cursor()
    cursor.execute(
        "INSERT INTO aggregate_leases (stream, token, run_id, taken_at) VALUES (%s, 1, %s, NOW(6)) "
        "ON DUPLICATE KEY UPDATE token = token + 1, run_id = VALUES(run_id), taken_at = VALUES(taken_at)",
        (stream, run),
    )
    token: int = scalar(conn, "SELECT token FROM aggregate_leases WHERE stream = %s", stream)
    return token


def fence(cursor: Any, stream: str, context: RunContext, *, hold: bool = True) -> None:
    """The run still the holder of both the lease and the lock, or `LockLost`. Inside a
    transaction, before it writes (`hold`): the lease row stays locked until it ends, so no
    newer run takes the lease between this check and the commit."""
    cursor.execute(f"SELECT token FROM aggregate_leases WHERE stream = %s{' FOR UPDATE' if hold else ''}", (stream,))
    row = cursor.fetchone()
    token = row[0] if row else None
    cursor.execute("SELECT IS_USED_LOCK(%s)", (context.lock_name,))
    (holder,) = cursor.fetchone()
    if token != context.lease or holder != context.lock_connection_id:
        raise LockLost(
            f"{stream}: run {context.run_id} lost its lock (lease {context.lease}, now {token}; lock held by "
            f"connection {holder}, this run's was {context.lock_connection_id}): it stops without committing"
        )


class KeepAlive:
    """Pings the lock connection while the run works, so the server's idle timeout ends the
    connection (and frees the lock) only when this process stops answering."""

    def __init__(self, lock: Any, every_seconds: float) -> None:
        self._lock = lock
        self._every = every_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="aggregate-lock-keepalive", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                scalar(self._lock, "SELECT 1")
            except mysql.connector.Error as e:
                log.warning("the aggregate's lock connection failed a ping: %s (its next commit checks it)", e)
                return

    def __enter__(self) -> KeepAlive:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def release(conn: Any, name: str) -> None:
    cursor = conn.cursor()
    cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))
    cursor.fetchall()
