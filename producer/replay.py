"""Reads an export of an existing tracking table (CSV with a header, or JSON lines) into
beacons. Values that do not fit their column are passed on as they are: ingest rejects
them with a reason, so nothing in the file is silently dropped."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from jobs.wire import BEACON_FIELDS


def _typed(name: str, value: Any) -> Any:
    kind = BEACON_FIELDS[name]
    if value is None or kind in ("text", "timeuuid") or not isinstance(value, str):
        return value
    if value.strip() == "":
        return None
    try:
        return int(value) if kind == "int" else float(value)
    except ValueError:
        return value


def beacon_from_row(row: dict[str, Any]) -> dict[str, Any]:
    return {name: _typed(name, row.get(name)) for name in BEACON_FIELDS}


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as f:
        if path.suffix.lower() == ".csv":
            for row in csv.DictReader(f):
                yield beacon_from_row(row)
        else:
            for line in f:
                if line.strip():
                    yield beacon_from_row(orjson.loads(line))
