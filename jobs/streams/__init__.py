"""The workloads tidemark runs, one module each, listed explicitly (no discovery by import)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from jobs.settings import JobSettings
from jobs.spec import StreamSpec, index
from jobs.streams import ads, orders, tracking, userlogs

STREAMS: dict[str, StreamSpec] = index(tracking.STREAM, ads.STREAM, orders.STREAM, *userlogs.PARTS)
# What users name with --stream and configure with TIDEMARK_<STREAM>_ENABLED: a stream, or a
# family of parts (userlogs).
FAMILIES: dict[str, list[str]] = {}
for _spec in STREAMS.values():
    FAMILIES.setdefault(_spec.stream, []).append(_spec.name)
NAMES = sorted({*FAMILIES, *STREAMS})


def retention_days(settings: JobSettings, name: str) -> int:
    """Days a stream's raw events are kept (0 = forever); its own setting, else the global one."""
    own: int | None = getattr(settings, f"{STREAMS[name].stream}_retention_days")
    return settings.raw_ttl_days if own is None else own


def configured(settings: JobSettings, names: Sequence[str] = ()) -> list[StreamSpec]:
    """The streams a run drives, with their topics from the settings: those named, else every
    enabled one. An unknown name stops the run naming it."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise SystemExit(f"--stream: unknown stream {', '.join(unknown)} (known: {', '.join(NAMES)})")
    chosen = [part for n in names for part in FAMILIES.get(n, [n])] or [
        n for n, spec in STREAMS.items() if getattr(settings, f"{spec.stream}_enabled")
    ]
    return [
        replace(STREAMS[n], topics=tuple(t.strip() for t in getattr(settings, f"{n}_topic").split(",") if t.strip()))
        for n in chosen
    ]
