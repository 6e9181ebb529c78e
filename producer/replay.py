"""Reads an export of an existing tracking table (CSV with a header, or JSON lines) into
beacons. Values that do not fit their column are passed on as they are: ingest rejects
them with a reason, so nothing in the file is silently dropped."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from wire.formats import BEACON_FIELDS


def _sendable(value: Any) -> bool:
    """Whether orjson sends the value as it is: not a NaN or an infinity, which it writes as
    null (a bid would arrive as no bid), nor an integer past 64 bits, which it refuses."""
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, int) or -(2**63) <= value < 2**64


def _typed(name: str, value: Any) -> Any:
    kind = BEACON_FIELDS[name]
    if not _sendable(value):  # read from a JSON line: sent as its JSON text
        return json.dumps(value)
    if value is None or kind in ("text", "timeuuid") or not isinstance(value, str):
        return value
    if value.strip() == "":
        return None
    try:
        number = int(value) if kind == "int" else float(value)
    except ValueError:
        return value
    # A number orjson cannot send ("NaN", "inf", "1e400", 30 digits) goes as the text it was,
    # as does any other value that does not fit: ingest rejects it with the reason.
    return number if _sendable(number) else value


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
                    yield beacon_from_row(_json_row(line))


def _json_row(line: str) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson refuses NaN, Infinity and numbers past a double or 64 bits; the standard
        # library reads them, and _typed sends them on as text for ingest to reject.
        return json.loads(line)
