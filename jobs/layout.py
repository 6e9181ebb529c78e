"""What a stream's stored data depends on and must never change under it: its shard count.

Raw rows live in (bucket, shard) partitions and aggregate reads a bucket as `shards` partition
reads, so a different TIDEMARK_SHARDS would leave every existing row unread. The count a
stream was first run with is stored in MySQL (`stream_layout`) and a different one is refused
before anything runs. Moving the raw rows to a new count is not supported: the refusal says
which value to set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LayoutChanged(SystemExit):
    """A setting that would strand stored data; ends the process with its message."""


def ddl(database: str) -> str:
    return f"""CREATE TABLE IF NOT EXISTS `{database}`.stream_layout (
  stream VARCHAR(32) NOT NULL PRIMARY KEY,
  shards INT NOT NULL,
  recorded_at DATETIME(6) NOT NULL
)"""


def settle_shards(conn: Any, streams: Sequence[str], shards: int) -> None:
    """Records the shard count of the streams that have none yet; refuses a different one."""
    cursor = conn.cursor()
    cursor.executemany(
        "INSERT IGNORE INTO stream_layout (stream, shards, recorded_at) VALUES (%s, %s, NOW(6))",
        [(stream, shards) for stream in streams],
    )
    cursor.execute("SELECT stream, shards FROM stream_layout")
    stored = {stream: count for stream, count in cursor.fetchall() if stream in streams}
    changed = {stream: count for stream, count in stored.items() if count != shards}
    if changed:
        raise LayoutChanged(
            "; ".join(
                f"TIDEMARK_SHARDS is {shards}, but stream {stream} keeps its raw rows over {count} shards "
                f"(fixed when it first ran): reading them over {shards} would miss rows. "
                f"Set TIDEMARK_SHARDS={count}"
                for stream, count in sorted(changed.items())
            )
        )
