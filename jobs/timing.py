"""Wall time of a job's stages, for the one line each stage logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timing(into: dict[str, float], name: str) -> Iterator[None]:
    """Adds the seconds the block took to `into[name]`."""
    started = time.monotonic()
    try:
        yield
    finally:
        into[name] = into.get(name, 0.0) + time.monotonic() - started


def timings(passes: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f}s" for name, seconds in passes.items())
