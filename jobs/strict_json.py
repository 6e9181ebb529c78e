"""The JSON streams' wire rule, one place for all of them: a message is one JSON value in UTF-8,
read strictly. Python's reader is lenient where a producer's bug should show: given bytes it
guesses UTF-16 or UTF-32 and skips a byte order mark, and a key written twice in one object
silently keeps its last value. Each of those is a `bad_json` reject here, naming what it saw.
NaN and Infinity tokens stay readable (pandas writes a missing float as a bare NaN); each
stream judges them where a number must be finite.
"""

from __future__ import annotations

import codecs
import json
from typing import Any

from jobs.spec import Reject

# Containers nested deeper than this are a reject: the records are shallow, and Python could
# neither print (a reject's detail) nor digest a value nested close to its recursion limit.
MAX_DEPTH = 64


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))  # type: ignore[func-returns-value]
    return value


def _too_deep(payload: bytes, value: Any) -> bool:
    """Whether JSON `value` nests containers deeper than MAX_DEPTH (walked only when its text
    has that many brackets at all)."""
    if payload.count(b"[") + payload.count(b"{") <= MAX_DEPTH:
        return False
    level = [value]
    for _ in range(MAX_DEPTH):
        level = [c for v in level for c in (v.values() if isinstance(v, dict) else v if isinstance(v, list) else ())]
        if not level:
            return False
    return True


def load(payload: bytes) -> Any:
    """The message's JSON value, or the `bad_json` reject saying why it is none."""
    if payload.startswith(codecs.BOM_UTF8):
        return Reject("bad_json", "a byte order mark before the JSON")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        return Reject("bad_json", f"invalid UTF-8 at byte {e.start}")
    try:
        value = json.loads(text, object_pairs_hook=_unique)
    except _DuplicateKey as e:
        return Reject("bad_json", f"duplicate key {e.key[:64]!r}")
    except RecursionError:
        return Reject("bad_json", f"nested deeper than {MAX_DEPTH}")
    except ValueError:
        return Reject("bad_json")
    return Reject("bad_json", f"nested deeper than {MAX_DEPTH}") if _too_deep(payload, value) else value
