"""The bad-input corpus: for each stream, messages as they could arrive on its topic and what
ingest must make of each (read by tests/unit/test_bad_input.py; it lives in the unit tier's
folder because every folder of tests/ is a tier). One YAML file per stream, named for the
stream (`tracking.yaml`, `ads.yaml`, `orders.yaml`, and one per userlogs part:
`userlogs_session.yaml`, …).

A file holds the `placement` its verdicts assume (the clock and the sanity bounds ingest
classifies with) and its `cases`. A case has a `name`, its raw bytes in one of these forms:

- `text`: the bytes as UTF-8 text (YAML single quotes keep JSON escapes such as `\\u0000` as
  they are);
- `hex`: the bytes in hex; spaces and `|` may separate fields and are ignored;
- `base64`;
- `concat`: a list of pieces, each `text` or `hex` with an optional `times` to repeat it (for
  the large payloads: deep nesting, huge arrays, oversize);

and its verdict, one or both of:

- `reject: <reason>` (the exact reason ingest gives), with `detail:` when the detail is checked;
- `accept:` the key fields of the row it gives (a mapping), or of each row (a list of
  mappings; `[]`: the message gives no row). `rows: N` repeats a mapping for N equal rows.
  `event_time` and `bucket` are written as Spark prints a timestamp.

`pending: <what the code does today>` marks a case whose verdict is what the stream *should*
give but does not yet: its test is expected to fail until the stream is fixed, and then fails
until the mark is removed.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Placement:
    now: datetime  # naive UTC
    max_payload_bytes: int
    max_future_seconds: int
    retention_days: int


@dataclass(frozen=True)
class Case:
    stream: str
    name: str
    payload: bytes
    reject: str | None = None
    detail: str | None = None
    accept: tuple[dict[str, Any], ...] = ()
    pending: str | None = None

    @property
    def id(self) -> str:
        return f"{self.stream}:{self.name}"


@dataclass(frozen=True)
class Corpus:
    stream: str
    placement: Placement
    cases: tuple[Case, ...]


def _hex(text: str) -> bytes:
    return binascii.unhexlify("".join(text.replace("|", " ").split()))


def _piece(spec: dict[str, Any], where: str) -> bytes:
    forms = [key for key in ("text", "hex", "base64") if key in spec]
    if len(forms) != 1:
        raise ValueError(f"{where}: give exactly one of text, hex, base64 (got {forms or 'none'})")
    form = forms[0]
    value = str(spec[form])
    if form == "text":
        return value.encode("utf-8", "surrogatepass")
    if form == "hex":
        return _hex(value)
    return base64.b64decode(value, validate=True)


def payload_of(spec: dict[str, Any], where: str) -> bytes:
    """A case's raw bytes from its `text`, `hex`, `base64` or `concat`."""
    if "concat" in spec:
        if any(key in spec for key in ("text", "hex", "base64")):
            raise ValueError(f"{where}: concat and a single form together")
        return b"".join(_piece(p, where) * int(p.get("times", 1)) for p in spec["concat"])
    return _piece(spec, where)


def _accepted(spec: dict[str, Any], where: str) -> tuple[dict[str, Any], ...]:
    accept = spec.get("accept")
    if accept is None:
        return ()
    if isinstance(accept, dict):
        return (accept,) * int(spec.get("rows", 1))
    if isinstance(accept, list) and all(isinstance(row, dict) for row in accept):
        return tuple(accept)
    raise ValueError(f"{where}: accept is a mapping or a list of mappings")


def load(stream: str) -> Corpus:
    """The corpus of one stream, checked: unique names, one payload form, a verdict each."""
    path = HERE / f"{stream}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    p = document["placement"]
    placement = Placement(
        now=datetime.fromisoformat(str(p["now"])),
        max_payload_bytes=int(p["max_payload_bytes"]),
        max_future_seconds=int(p["max_future_seconds"]),
        retention_days=int(p["retention_days"]),
    )
    cases: list[Case] = []
    for spec in document["cases"]:
        where = f"{path.name}: {spec.get('name')!r}"
        known = {"name", "text", "hex", "base64", "concat", "reject", "detail", "accept", "rows", "pending"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        if "reject" not in spec and "accept" not in spec:
            raise ValueError(f"{where}: a case needs a verdict (reject, accept or both)")
        cases.append(
            Case(
                stream=stream,
                name=str(spec["name"]),
                payload=payload_of(spec, where),
                reject=spec.get("reject"),
                detail=None if spec.get("detail") is None else str(spec["detail"]),
                accept=_accepted(spec, where),
                pending=spec.get("pending"),
            )
        )
    names = [case.name for case in cases]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"{path.name}: case names used twice: {duplicated}")
    return Corpus(stream, placement, tuple(cases))


def streams() -> list[str]:
    """Every stream that has a corpus file."""
    return sorted(path.stem for path in HERE.glob("*.yaml"))
