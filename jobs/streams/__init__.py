"""The workloads tidemark runs, one module each, listed explicitly (no discovery by import)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from jobs.settings import JobSettings
from jobs.spec import StreamSpec, index
from jobs.streams import ads, orders, tracking

STREAMS: dict[str, StreamSpec] = index(tracking.STREAM, ads.STREAM, orders.STREAM)


def retention_days(settings: JobSettings, name: str) -> int:
    """Days a stream's raw events are kept (0 = forever); its own setting, else the global one."""
    own: int | None = getattr(settings, f"{name}_retention_days")
    return settings.raw_ttl_days if own is None else own


def configured(settings: JobSettings, names: Sequence[str] = ()) -> list[StreamSpec]:
    """The streams a run drives, with their topics from the settings: those named, else every
    enabled one. An unknown name stops the run naming it."""
    unknown = [n for n in names if n not in STREAMS]
    if unknown:
        raise SystemExit(f"--stream: unknown stream {', '.join(unknown)} (known: {', '.join(STREAMS)})")
    chosen = list(names) or [n for n in STREAMS if getattr(settings, f"{n}_enabled")]
    return [
        replace(STREAMS[n], topics=tuple(t.strip() for t in getattr(settings, f"{n}_topic").split(",") if t.strip()))
        for n in chosen
    ]
