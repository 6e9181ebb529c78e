"""A Confluent-API schema registry (TIDEMARK_SCHEMA_REGISTRY_URL), as the streams that read Avro
writer schemas by id use it.

Ingest checks the URL once at start (`check`), before any such stream reads a message: a URL
that answers, but not as a registry (a wrong path, so 404 for every id), would otherwise turn
every event into an `unknown_schema_id` reject. A registry that does not answer at start is an
outage: the run fails without reading, and the next run (or the continuous driver's restart)
tries again. During a run, a 404 for an id is the id's: that event is an `unknown_schema_id`
reject, asked again at the id's next message (a later registration is seen). Any other failure
is the registry's: the lookup waits for it (TIDEMARK_SCHEMA_REGISTRY_WAIT_SECONDS, a restart
fits in it), and then fails the batch, which is read again by the next run; never a reject.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Literal

import fastavro

from jobs.spec import Unavailable

log = logging.getLogger("tidemark.registry")

SETTING = "TIDEMARK_SCHEMA_REGISTRY_URL"
TIMEOUT_SECONDS = 10
# Answers that say "not now" rather than "not here".
BUSY = frozenset({408, 429})

Verdict = Literal["registry", "outage", "not a registry"]


class RegistryUnusable(SystemExit):
    """The URL answers, but not as a Confluent-API registry: a configuration error, which ends
    the process with its message."""


class RegistryUnavailable(Unavailable):
    """The registry did not answer, or answered 5xx: the run fails, and the next one tries again."""


# Writer schemas found, by (url, id): a registered id's schema never changes. An id not found
# is not kept, so a later registration is seen at its next message.
_found: dict[tuple[str, int], Any] = {}
FIRST_PAUSE_SECONDS = 0.5
LONGEST_PAUSE_SECONDS = 10.0


def writer_schema(url: str, schema_id: int, wait_seconds: float = 0) -> Any:
    """The writer schema of `schema_id`; None when the registry does not know the id (404).
    While the registry fails, asks again with growing pauses for up to `wait_seconds`, then
    raises `RegistryUnavailable`."""
    key = (url, schema_id)
    if key in _found:
        return _found[key]
    deadline = time.monotonic() + wait_seconds
    pause = FIRST_PAUSE_SECONDS
    while True:
        try:
            schema = fetch(url, schema_id)
        except RegistryUnavailable as e:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("%s; asking again in %.1fs", e, pause)
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
            continue
        if schema is not None:
            _found[key] = schema
        return schema


def fetch(url: str, schema_id: int) -> Any:
    """One lookup: the parsed writer schema, None on 404, `RegistryUnavailable` otherwise."""
    where = f"{url.rstrip('/')}/schemas/ids/{schema_id}"
    try:
        with urllib.request.urlopen(where, timeout=TIMEOUT_SECONDS) as response:
            body = response.read()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise RegistryUnavailable(
            f"the schema registry answered GET {where} with {e.code} {e.reason}: {excerpt(e.read())}"
        ) from e
    except OSError as e:  # refused, unresolvable, timed out: URLError and TimeoutError are OSErrors
        raise RegistryUnavailable(f"the schema registry did not answer GET {where}: {getattr(e, 'reason', e)}") from e
    try:
        text = json.loads(body)["schema"]
    except (ValueError, KeyError, TypeError) as e:
        # Not the registry's answer (a proxy's page, say): the registry's problem, not the id's.
        raise RegistryUnavailable(f"GET {where} answered no schema: {excerpt(body)}") from e
    return fastavro.parse_schema(json.loads(text))


def verdict(status: int, body: bytes) -> Verdict:
    """What an answer to `GET <url>/subjects` says of the URL: a registry lists its subjects."""
    if status >= 500 or status in BUSY:
        return "outage"
    if status != 200:
        return "not a registry"
    try:
        subjects = json.loads(body)
    except ValueError:
        return "not a registry"
    if isinstance(subjects, list) and all(isinstance(s, str) for s in subjects):
        return "registry"
    return "not a registry"


def check(url: str) -> None:
    """Returns when `url` answers as a Confluent-API registry; raises `RegistryUnusable` when it
    answers otherwise and `RegistryUnavailable` when it does not answer."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistryUnusable(f"{SETTING}={url!r} is not an http(s) URL of a Confluent-API schema registry")
    probe = f"{url.rstrip('/')}/subjects"
    try:
        with urllib.request.urlopen(probe, timeout=TIMEOUT_SECONDS) as response:
            status, reason, body = response.status, response.reason, response.read()
    except urllib.error.HTTPError as e:
        status, reason, body = e.code, e.reason, e.read()
    except OSError as e:  # refused, unresolvable, timed out: URLError and TimeoutError are OSErrors
        raise RegistryUnavailable(
            f"the schema registry at {SETTING}={url} did not answer (GET {probe}: {getattr(e, 'reason', e)}): "
            "ingest stops rather than read events it cannot decode; the next run tries again"
        ) from e
    answered = f"GET {probe} answered {status} {reason}: {excerpt(body)}"
    found = verdict(status, body)
    if found == "outage":
        raise RegistryUnavailable(
            f"the schema registry at {SETTING}={url} is unavailable ({answered}): "
            "ingest stops rather than read events it cannot decode; the next run tries again"
        )
    if found == "not a registry":
        raise RegistryUnusable(
            f"{SETTING}={url} does not answer as a Confluent-API schema registry ({answered}); "
            "a registry answers a JSON list of subjects. Set it to the registry's Confluent API, "
            "e.g. Apicurio's http://<host>:<port>/apis/ccompat/v7"
        )


def excerpt(body: bytes, limit: int = 200) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return (text[:limit] + "…" if len(text) > limit else text) or "(empty body)"
