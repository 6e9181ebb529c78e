"""A tracking beacon's pure parse: bytes to its one raw row, or the reject and why.

Tracking classifies in Spark SQL (jobs/streams/tracking.py): the busiest stream stays in the
JVM. This is the same judgement as a plain function, the reference that path is checked
against (tests/unit/test_tracking_parse.py). The engine adds what every stream shares:
oversize and absurd-time rejects, bucket and shard.

Spark's JSON reader hands a field declared as text whatever value it holds: a string as it
is, anything else written again by Jackson, compactly and with Java's text of a double
(`0.10` becomes `0.1`, `1e20` becomes `1.0E20`, an overflowing `1e400` the quoted word
`"Infinity"`). `spark_text` writes the same, so both paths store the same raw row. Where the
two readers still part, on input no producer sends: Jackson also reads a `+Infinity` token,
Java prints a few doubles (the smallest subnormal, `4.9E-324`) with more than the shortest
digits, and each reader has its own limit on nesting near a thousand levels.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from jobs.spec import ParseResult, Reject
from wire.formats import BEACON_FIELDS

# 100-ns intervals between the UUID epoch (1582-10-15) and the Unix epoch.
UUID_EPOCH_OFFSET_TICKS = 122_192_928_000_000_000
# A bid is money: kept to the micro-unit (6 decimals) and summed as DECIMAL, so totals are
# exact. Beyond MAX_BID it is an out-of-range reject: a billion such clicks in one hour still
# fit the hourly DECIMAL(24,6), and no sum can overflow.
BID_SCALE = 6
MAX_BID = 1_000_000

# What a field's text must be, whole: the Spark path anchors them with Java's `\z`, this one
# with Python's `\Z` (each engine's end of input; Java's `$` would also pass a final newline).
TIMEUUID_BODY = r"[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
INT_BODY = r"-?[0-9]{1,9}"
DOUBLE_BODY = r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?"
# Spark's reader hands a NaN, Infinity or overflowing number token to a text field as the
# quoted text "NaN", "Infinity" or "-Infinity"; the same word sent as a JSON string has no
# quotes (and is a type error, as any text that is not a number).
NON_FINITE_BODY = r'"-?(NaN|Infinity)"'
PATTERNS = {"int": INT_BODY, "double": DOUBLE_BODY}


def _whole(body: str) -> re.Pattern[str]:
    return re.compile(rf"(?:{body})\Z")


_TIMEUUID, _NON_FINITE = _whole(TIMEUUID_BODY), _whole(NON_FINITE_BODY)
_TYPED = {kind: _whole(body) for kind, body in PATTERNS.items()}


# --- JSON as Spark's reader sees it -----------------------------------------------------------


class _Pairs(list[tuple[str, Any]]):
    """An object's members in order, a key given twice kept twice (Jackson writes both)."""


class _IntText(str):
    """An integer token as written."""


class _FloatText(str):
    """A fraction or exponent token as written."""


# Spark's JSON reader (Jackson 2.15) refuses a number token longer than this: the record is
# not JSON to it.
MAX_NUMBER_CHARS = 1_000


def _number(kind: type[str]) -> Any:
    def read(token: str) -> str:
        if len(token) > MAX_NUMBER_CHARS:
            raise ValueError(f"a number of {len(token)} characters")
        return kind(token)

    return read


_INT, _FLOAT = _number(_IntText), _number(_FloatText)


def _load(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_Pairs, parse_int=_INT, parse_float=_FLOAT)


def java_double(x: float) -> str:
    """Java's `Double.toString`: the shortest digits, plain between 10^-3 and 10^7, else
    `d.dddE<n>`; always a fraction digit. (Java 17 prints a few doubles with more digits than
    the shortest, the smallest subnormal among them: `4.9E-324`.)"""
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    sign = "-" if x < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(x))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = int(exponent) + len(digit_tuple) - 1  # of the first digit
    if 1e-3 <= abs(x) < 1e7:
        if exponent >= 0:
            whole, fraction = digits[: exponent + 1].ljust(exponent + 1, "0"), digits[exponent + 1 :]
        else:
            whole, fraction = "0", "0" * (-exponent - 1) + digits
        return f"{sign}{whole}.{fraction or '0'}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}E{exponent}"


_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_ESCAPED = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _quoted(text: str) -> str:
    """A string as Jackson writes it: short escapes where JSON has them, `\\u00XX` (upper-case
    hex) for other control characters and for a surrogate without its pair."""
    return '"' + _ESCAPED.sub(lambda m: _SHORT_ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04X}", text) + '"'


def _jackson(value: Any) -> str:
    """A non-string JSON value as Jackson writes it again."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, _IntText):
        return "0" if value == "-0" else str(value)
    if isinstance(value, _FloatText | float):
        number = float(value)
        if math.isnan(number):
            return '"NaN"'
        return java_double(number) if math.isfinite(number) else ('"Infinity"' if number > 0 else '"-Infinity"')
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, _Pairs):
        return "{" + ",".join(f"{_quoted(k)}:{_jackson(v)}" for k, v in value) + "}"
    return "[" + ",".join(_jackson(v) for v in value) + "]"


def spark_text(value: Any) -> str | None:
    """What Spark gives a text field holding `value`: a string itself (a surrogate without its
    pair as `?`, as Java encodes it), anything else as Jackson writes it again."""
    if value is None:
        return None
    if type(value) is str:
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    return _jackson(value)


def _not_one_object(payload: bytes) -> Reject | _Pairs:
    """The payload's one JSON object, or the `bad_json` reject with Spark's detail."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Reject("bad_json", "invalid UTF-8")
    try:
        value = _load(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            try:
                first = _load(text[: e.pos])
            except (ValueError, RecursionError):
                first = None
            if isinstance(first, _Pairs):
                return Reject("bad_json", "text after the JSON object")
        return Reject("bad_json")
    except (ValueError, RecursionError):
        return Reject("bad_json")
    if not isinstance(value, _Pairs):
        return Reject("bad_json")
    keys = [k for k, _ in value]
    twice = next((k for k in keys if keys.count(k) > 1), None) if len(set(keys)) < len(keys) else None
    if twice is not None:
        return Reject("bad_json", f"duplicate key '{twice[:64]}'")
    return value


# --- the beacon -------------------------------------------------------------------------------


def _blank_to_null(text: str | None) -> str | None:
    # Spark's trim takes spaces only.
    return None if text is None or text.strip(" ") == "" else text


def event_time(create_time: str) -> datetime:
    """The moment a version-1 UUID (lower-case text) encodes, as naive UTC, to the µs."""
    hexes = create_time.replace("-", "")
    ticks = int(hexes[13:16] + hexes[8:12] + hexes[:8], 16)
    return datetime(1970, 1, 1) + timedelta(microseconds=(ticks - UUID_EPOCH_OFFSET_TICKS) // 10)


def _type_error(name: str, text: str | None) -> str | None:
    """A `name='value'` note when the field holds something that is not its declared type."""
    pattern = _TYPED.get(BEACON_FIELDS[name])
    value = _blank_to_null(text)
    if pattern is None or value is None or pattern.match(value):
        return None
    if BEACON_FIELDS[name] == "double" and _NON_FINITE.match(value):
        return None  # a non-finite number token is a number: its range check judges it
    return f"{name}={value[:64]}"


def bid_error(bid: float) -> str | None:
    """The reject reason of a bid that is not money, None for a good one."""
    if not math.isfinite(bid):
        return "non_finite_number"
    if bid < 0:
        return "negative_value"
    return "out_of_range" if bid > MAX_BID else None


def _typed(kind: str, text: str | None) -> Any:
    if kind in ("text", "timeuuid"):
        return text
    value = _blank_to_null(text)
    if value is None:
        return None
    return int(value) if kind == "int" else float(value)


def parse(payload: bytes) -> ParseResult:
    """One beacon to its raw row (`event_time` and every field of BEACON_FIELDS, typed), or a
    reject: `bad_json`, `missing_create_time`, `bad_create_time`, `invalid_type`, or a bid's
    `non_finite_number`, `negative_value`, `out_of_range`."""
    beacon = _not_one_object(payload)
    if isinstance(beacon, Reject):
        return beacon
    given = dict(beacon)
    texts = {name: spark_text(given.get(name)) for name in BEACON_FIELDS}
    raw_time = texts["create_time"]
    create_time = raw_time.strip(" ").lower() if raw_time is not None else None
    if _blank_to_null(create_time) is None:
        return Reject("missing_create_time")
    assert create_time is not None
    if not _TIMEUUID.match(create_time):
        return Reject("bad_create_time", f"create_time={create_time[:64]}")
    texts["create_time"] = create_time
    wrong = next((e for e in (_type_error(n, texts[n]) for n in BEACON_FIELDS) if e is not None), None)
    if wrong is not None:
        return Reject("invalid_type", wrong)
    bid_text = _blank_to_null(texts["bid"])
    if bid_text is not None:
        bid = float(bid_text.strip('"'))
        error = bid_error(bid)
        if error is not None:
            return Reject(error, f"bid={texts['bid'][:64]}")  # type: ignore[index]
    row = {name: _typed(kind, texts[name]) for name, kind in BEACON_FIELDS.items()}
    row["create_time"] = create_time
    return [{"event_time": event_time(create_time), **row}]
