"""The schema registry check at ingest's start: a URL that answers as a Confluent-API registry
passes, one that answers otherwise is a configuration error naming the setting and the answer,
and one that does not answer is an outage, never a reason to reject events."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fastavro
import pytest

from jobs import ingest, registry
from jobs.registry import RegistryUnavailable, RegistryUnusable, check, verdict
from jobs.settings import JobSettings
from jobs.spec import StreamSpec
from jobs.streams import ads
from jobs.streams.ads import STREAM as ADS
from jobs.streams.tracking import STREAM as TRACKING
from wire.formats import AD_EVENT_SCHEMA, confluent_frame


class Server:
    """An HTTP server on 127.0.0.1 that gives every GET the answer a test set."""

    def __init__(self) -> None:
        self.answer: tuple[int, bytes] = (200, b"[]")
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.paths.append(self.path)
                status, body = server.answer
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/apis/ccompat/v7"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.mark.parametrize(
    ("status", "body", "found"),
    [
        (200, b"[]", "registry"),
        (200, b'["ad_topic-value"]', "registry"),
        (404, b'{"status":404,"title":"Could not find resource"}', "not a registry"),
        (401, b"", "not a registry"),
        (200, b"<!DOCTYPE html><title>Apicurio Registry APIs</title>", "not a registry"),
        (200, b'{"subjects": []}', "not a registry"),
        (500, b"", "outage"),
        (503, b"upstream connect error", "outage"),
        (429, b"", "outage"),
    ],
)
def test_should_judge_the_answer_to_get_subjects(status: int, body: bytes, found: str) -> None:
    assert verdict(status, body) == found


def test_should_pass_a_url_that_lists_subjects(server: Server) -> None:
    check(server.url + "/")
    assert server.paths == ["/apis/ccompat/v7/subjects"]


def test_should_stop_on_a_url_that_answers_but_not_as_a_registry(server: Server) -> None:
    server.answer = (404, b'{"detail":"NotFoundException: Could not find resource for full path"}')
    with pytest.raises(RegistryUnusable) as stopped:
        check(server.url)
    said = str(stopped.value)
    assert said.startswith(f"TIDEMARK_SCHEMA_REGISTRY_URL={server.url} does not answer as a Confluent-API")
    assert f"GET {server.url}/subjects answered 404 Not Found: " in said
    assert "NotFoundException" in said
    assert isinstance(stopped.value, SystemExit), "a configuration error ends the process with its message"


def test_should_stop_on_a_url_that_is_not_http() -> None:
    with pytest.raises(RegistryUnusable, match=r"TIDEMARK_SCHEMA_REGISTRY_URL='registry:8081' is not an http\(s\) URL"):
        check("registry:8081")


def test_should_fail_as_an_outage_on_a_registry_that_answers_5xx(server: Server) -> None:
    server.answer = (503, b"upstream connect error")
    with pytest.raises(RegistryUnavailable, match=r"is unavailable \(GET .*/subjects answered 503 Service Unavailable"):
        check(server.url)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nobody listens there


def test_should_fail_as_an_outage_on_a_registry_that_refuses_connections() -> None:
    port = closed_port()
    with pytest.raises(
        RegistryUnavailable, match=r"did not answer \(GET .*/subjects: \[Errno 111\] Connection refused"
    ):
        check(f"http://127.0.0.1:{port}/apis/ccompat/v7")


def test_should_read_an_id_the_registry_does_not_know_as_none_and_ask_again_later(server: Server) -> None:
    """A URL that passed the check: a 404 for an id is the id's (a reject), and not remembered:
    the id registered later is found at its next message."""
    server.answer = (404, b'{"message":"No content with ID \'987654\' was found.","error_code":40403}')
    assert registry.writer_schema(server.url, 987_654) is None
    server.answer = (200, json.dumps({"schema": json.dumps(AD_EVENT_SCHEMA)}).encode())
    assert registry.writer_schema(server.url, 987_654)["name"] == "AdEvent"
    server.answer = (503, b"")
    assert registry.writer_schema(server.url, 987_654)["name"] == "AdEvent", "a found schema is kept"
    assert server.paths.count("/apis/ccompat/v7/schemas/ids/987654") == 2


@pytest.mark.parametrize(
    ("status", "body"),
    [(503, b"upstream connect error"), (500, b""), (429, b""), (401, b""), (200, b"<html>a proxy's page</html>")],
)
def test_should_fail_the_batch_never_the_message_when_the_registry_fails(
    server: Server, status: int, body: bytes
) -> None:
    server.answer = (status, body)
    with pytest.raises(RegistryUnavailable, match=r"/schemas/ids/987655"):
        registry.writer_schema(server.url, 987_655)
    with pytest.raises(RegistryUnavailable):
        ads.parse(confluent_frame(987_655, b""), registry_url=server.url)


def test_should_fail_the_batch_when_the_registry_refuses_connections() -> None:
    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    with pytest.raises(RegistryUnavailable, match=r"did not answer GET .*/schemas/ids/7: .*Connection refused"):
        registry.writer_schema(url, 7)


def test_should_wait_for_a_registry_that_comes_back_within_the_wait(server: Server) -> None:
    server.answer = (503, b"")
    found = json.dumps({"schema": json.dumps(AD_EVENT_SCHEMA)}).encode()
    timer = threading.Timer(1.2, lambda: setattr(server, "answer", (200, found)))
    timer.start()
    try:
        assert registry.writer_schema(server.url, 987_656, wait_seconds=30)["name"] == "AdEvent"
    finally:
        timer.cancel()
    assert server.paths.count("/apis/ccompat/v7/schemas/ids/987656") >= 2


@pytest.mark.parametrize(
    ("url", "streams", "checked"),
    [
        ("http://registry/apis/ccompat/v7", [TRACKING, ADS], True),
        ("http://registry/apis/ccompat/v7", [TRACKING], False),  # no stream reads writer schemas
        ("", [ADS], False),  # the built-in schema
    ],
)
def test_should_check_the_registry_only_for_a_stream_that_reads_it(
    url: str, streams: list[StreamSpec], checked: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls: list[str] = []
    monkeypatch.setattr(registry, "check", urls.append)
    ingest.check_registry(JobSettings(schema_registry_url=url), streams)
    assert urls == ([url] if checked else [])


def test_should_identify_an_ad_by_its_bytes_as_written_beyond_the_readers_fields(server: Server) -> None:
    """Two messages of a newer writer that differ only in a field AdEvent does not read: two events."""
    newer = {**AD_EVENT_SCHEMA, "fields": [*AD_EVENT_SCHEMA["fields"], {"name": "campaign", "type": "string"}]}
    server.answer = (200, json.dumps({"schema": json.dumps(newer)}).encode())
    record = {"ad_id": "ad_0007", "timestamp": "2026-11-22T10:00:15", "clicks": 3, "views": 40, "cost": 12.5}

    def written(campaign: str) -> bytes:
        body = io.BytesIO()
        fastavro.schemaless_writer(body, fastavro.parse_schema(newer), {**record, "campaign": campaign})
        return confluent_frame(4242, body.getvalue())

    spring, autumn, again = (ads.parse(written(c), registry_url=server.url) for c in ("spring", "autumn", "spring"))
    assert isinstance(spring, list) and isinstance(autumn, list) and isinstance(again, list)
    assert (spring[0]["ad_id"], spring[0]["cost"]) == (autumn[0]["ad_id"], autumn[0]["cost"]) == ("ad_0007", 12.5)
    assert spring[0]["event_id"] != autumn[0]["event_id"]
    assert again[0]["event_id"] == spring[0]["event_id"], "a byte-identical re-send is the same event"
