"""The workloads tidemark runs, one module each, listed explicitly (no discovery by import),
plus the modules named in TIDEMARK_EXTRA_STREAMS (comma-separated module paths, such as
the example in docs/adding-a-stream.md), each exposing `STREAM` or a tuple `STREAMS` of specs.

The registry is the one declaration of a stream: its settings (TIDEMARK_<STREAM>_ENABLED,
TIDEMARK_<STREAM>_RETENTION_DAYS, TIDEMARK_<PART>_TOPIC) and their defaults derive from it."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import ModuleType
from typing import Any

from jobs.settings import ENV_PREFIX, PER_STREAM_SUFFIX, JobSettings
from jobs.spec import StreamSpec, index
from jobs.streams import ads, orders, tracking, userlogs

EXTRA_STREAMS = "TIDEMARK_EXTRA_STREAMS"
BUILT_IN = (tracking.STREAM, ads.STREAM, orders.STREAM, *userlogs.PARTS)


def specs_of(module: ModuleType) -> tuple[StreamSpec, ...]:
    specs = getattr(module, "STREAMS", None) or (getattr(module, "STREAM", None),)
    if not all(isinstance(s, StreamSpec) for s in specs):
        raise SystemExit(f"{EXTRA_STREAMS}: {module.__name__} has no STREAM or STREAMS of StreamSpec")
    return tuple(specs)


def extra_streams(modules: str) -> tuple[StreamSpec, ...]:
    """The specs of the modules a comma-separated list names; one that does not import stops
    the process naming the setting."""
    found: list[StreamSpec] = []
    for name in (m.strip() for m in modules.split(",") if m.strip()):
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise SystemExit(f"{EXTRA_STREAMS}: cannot import {name}: {e}") from e
        found.extend(specs_of(module))
    return tuple(found)


def stream_variables(streams: Iterable[StreamSpec] = ()) -> list[tuple[str, Any]]:
    """Each per-stream setting as (field-like name, default): `<stream>_enabled`,
    `<stream>_retention_days` once per family, `<part>_topic` per spec (comma-separated topics)."""
    variables: dict[str, Any] = {}
    for spec in streams or STREAMS.values():
        variables.setdefault(f"{spec.stream}_enabled", True)
        variables.setdefault(f"{spec.stream}_retention_days", spec.retention_days)
        variables[f"{spec.name}_topic"] = ",".join(spec.topics)
    return list(variables.items())


def registry(extra: tuple[StreamSpec, ...]) -> dict[str, StreamSpec]:
    """The built-in streams and the extra ones; an extra one that clashes with another stream
    (name, topic, table, family) or whose settings would be another setting's stops the process
    naming TIDEMARK_EXTRA_STREAMS."""
    try:
        streams = index(*BUILT_IN, *extra)
    except ValueError as e:
        raise SystemExit(f"{EXTRA_STREAMS}: {e}") from e
    families = {spec.stream for spec in BUILT_IN}
    for spec in extra:
        if spec.name in families or spec.stream in families:
            raise SystemExit(f"{EXTRA_STREAMS}: stream {spec.name!r} would join the built-in family {spec.stream!r}")
        taken = sorted(set(JobSettings.model_fields) & {name for name, _ in stream_variables((spec,))})
        if taken:
            raise SystemExit(f"{EXTRA_STREAMS}: stream {spec.name!r} would share settings {taken} with the engine")
    return streams


STREAMS: dict[str, StreamSpec] = registry(extra_streams(os.environ.get(EXTRA_STREAMS, "")))
# What users name with --stream and configure with TIDEMARK_<STREAM>_ENABLED: a stream, or a
# family of parts (userlogs).
FAMILIES: dict[str, list[str]] = {}
for _spec in STREAMS.values():
    FAMILIES.setdefault(_spec.stream, []).append(_spec.name)
NAMES = sorted({*FAMILIES, *STREAMS})


def job_variables() -> set[str]:
    """Every environment variable the jobs read: JobSettings' own fields, the registry's
    per-stream settings and TIDEMARK_EXTRA_STREAMS."""
    own = {f"{ENV_PREFIX}{name.upper()}" for name in JobSettings.model_fields if name not in PER_STREAM_SUFFIX}
    return own | {f"{ENV_PREFIX}{name.upper()}" for name, _ in stream_variables()} | {EXTRA_STREAMS}


def per_stream_settings(given: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """JobSettings' `families` and `topics` from values named as `stream_variables` names them
    (lower case, no prefix); the rest keep the registry's defaults."""
    families: dict[str, Any] = {}
    topics: dict[str, Any] = {}
    for spec in STREAMS.values():
        family = families.setdefault(spec.stream, {})
        for field, default in (("enabled", True), ("retention_days", spec.retention_days)):
            family.setdefault(field, given.get(f"{spec.stream}_{field}", default))
        topics[spec.name] = given.get(f"{spec.name}_topic", ",".join(spec.topics))
    return {"families": families, "topics": topics}


def topics_of(settings: JobSettings, name: str) -> tuple[str, ...]:
    """The topics a stream reads: its TIDEMARK_<PART>_TOPIC, comma-separated."""
    return tuple(t.strip() for t in settings.topics[name].split(",") if t.strip())


def retention_days(settings: JobSettings, name: str) -> int:
    """Days a stream's raw events are kept (0 = forever); its own setting, else the global one."""
    own = settings.families[STREAMS[name].stream].retention_days
    return settings.raw_ttl_days if own is None else own


def parts(names: Sequence[str]) -> list[str]:
    """The specs the names mean: a stream itself, a family each of its parts."""
    return [part for n in names for part in FAMILIES.get(n, [n])]


def configured(settings: JobSettings, names: Sequence[str] = ()) -> list[StreamSpec]:
    """The streams a run drives, with their topics from the settings: those named, else every
    enabled one. An unknown name stops the run naming it."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise SystemExit(f"--stream: unknown stream {', '.join(unknown)} (known: {', '.join(NAMES)})")
    chosen = parts(names) or [n for n, spec in STREAMS.items() if settings.families[spec.stream].enabled]
    return [replace(STREAMS[n], topics=topics_of(settings, n)) for n in chosen]
