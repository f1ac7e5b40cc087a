"""Emulator wiring without Kafka: ping -> broker -> triggers, replies, control endpoint, errors."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from coelho.eventing import Emulator, ResolutionError

Responder = Callable[[dict[str, str], bytes], tuple[int, bytes, dict[str, str]]]


class Subscriber(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Responder | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond or (lambda headers, body: (202, b"", {}))
        self.seen: list[dict[str, str]] = []
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Subscriber

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.seen.append({**headers, "body": body.decode()})
        status, reply, reply_headers = self.server.respond(headers, body)
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[list[Subscriber]]:
    started: list[Subscriber] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def wait_for(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


MANIFESTS = """
apiVersion: eventing.knative.dev/v1
kind: Broker
metadata: {name: b, annotations: {eventing.knative.dev/broker.class: Kafka}}
---
apiVersion: sources.knative.dev/v1
kind: PingSource
metadata: {name: tick}
spec:
  schedule: "0 0 1 1 *"
  data: '{"n": 1}'
  contentType: application/json
  ceOverrides: {extensions: {domain: clock}}
  sink: {ref: {apiVersion: eventing.knative.dev/v1, kind: Broker, name: b}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: on-ping}
spec:
  broker: b
  filters: [{exact: {type: dev.knative.sources.ping}}]
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: pinged}}
---
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: on-reply}
spec:
  broker: b
  filter: {attributes: {type: coelho.reply}}
  subscriber: {ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: replies}}
"""


def reply_once(headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
    reply = {
        "ce-specversion": "1.0",
        "ce-id": "r-" + headers["ce-id"],
        "ce-source": "/pinged",
        "ce-type": "coelho.reply",
        "Content-Type": "application/json",
    }
    return 200, b'{"seen": true}', reply


def test_a_ping_is_routed_through_the_broker_and_its_reply_re_enters_it(
    tmp_path: Path, servers: list[Subscriber]
) -> None:
    pinged, replies = Subscriber(reply_once), Subscriber()
    servers += [pinged, replies]
    (tmp_path / "m.yaml").write_text(MANIFESTS)
    emulator = Emulator(
        tmp_path, "127.0.0.1:9", {"pinged": pinged.url, "replies": replies.url}, control_port=0
    )
    with emulator:
        emulator.pings[0].fire()
        wait_for(lambda: len(replies.seen) == 1, "the reply to reach the reply trigger")
        ping = pinged.seen[0]
        assert ping["ce-type"] == "dev.knative.sources.ping"
        assert ping["ce-source"] == "/apis/v1/namespaces/coelho/pingsources/tick"
        assert ping["ce-domain"] == "clock" and json.loads(ping["body"]) == {"n": 1}
        assert replies.seen[0]["ce-id"] == "r-" + ping["ce-id"]
        assert replies.seen[0]["body"] == '{"seen": true}'
        stats = emulator.stats()
        assert stats["triggers"]["coelho/on-ping"]["replies"] == 1
        assert stats["triggers"]["coelho/on-reply"]["delivered"] == 1
        assert stats["pings"]["coelho/tick"]["ticks"] == 1
        assert len(pinged.seen) == 1  # the reply did not match on-ping


def test_the_control_endpoint(tmp_path: Path, servers: list[Subscriber]) -> None:
    (tmp_path / "m.yaml").write_text(MANIFESTS)
    servers.append(Subscriber())
    services = {"pinged": servers[0].url, "replies": servers[0].url}
    with Emulator(tmp_path, "127.0.0.1:9", services, control_port=0) as emulator:
        assert emulator.control is not None
        base = f"http://127.0.0.1:{emulator.control.port}"
        with urllib.request.urlopen(f"{base}/health") as response:
            assert response.status == 200 and json.load(response) == {"ok": True}
        with urllib.request.urlopen(f"{base}/status") as response:
            assert set(json.load(response)) == {
                "sources",
                "triggers",
                "brokers",
                "pings",
                "job_sinks",
            }
        with urllib.request.urlopen(f"{base}/metrics") as response:
            text = response.read().decode()
        assert (
            'coelho_eventing_trigger_events_total{trigger="coelho/on-ping",outcome="delivered"}'
            " 0" in text
        )
        request = urllib.request.Request(f"{base}/sources/nope/pause", data=b"", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        assert caught.value.code == 404
        body = json.loads(caught.value.read())
        assert body["error"] == "UnknownSource" and "no KafkaSource 'nope'" in body["message"]


def test_an_unknown_service_fails_at_construction(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(MANIFESTS)
    with pytest.raises(
        ResolutionError,
        match=r"Trigger on-reply: spec.subscriber: ref to "
        r"Service 'replies' which is not in the services map",
    ):
        Emulator(tmp_path, "127.0.0.1:9", {"pinged": "http://127.0.0.1:1"})
