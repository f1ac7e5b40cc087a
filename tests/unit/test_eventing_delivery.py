"""Delivery against a real loopback HTTP server scripted to answer sequences of statuses."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from coelho.eventing.cloudevent import Event
from coelho.eventing.delivery import (
    Deliverer,
    DeliveryPlan,
    Outcome,
    backoff_delay,
    is_retryable,
)
from coelho.eventing.stats import Counters

RETRYABLE = [404, 408, 409, 429, 500, 502, 503, 504]
NOT_RETRYABLE = [300, 301, 304, 400, 401, 403, 405, 410, 413, 415, 422]


@dataclass
class Reply:
    status: int = 202
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close: bool = False


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    port: int


class Scripted(ThreadingHTTPServer):
    """Answers each POST with the next scripted Reply (202 when the script is exhausted)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[Reply] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed the socket: expected here

    def next_reply(self) -> Reply:
        with self.lock:
            return self.script.pop(0) if self.script else Reply()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Scripted

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            self.server.seen.append(Seen(self.path, headers, body, self.client_address[1]))
        reply = self.server.next_reply()
        if reply.delay:
            time.sleep(reply.delay)
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        if reply.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Scripted]:
    with _serving() as s:
        yield s


@pytest.fixture
def dls() -> Iterator[Scripted]:
    with _serving() as s:
        yield s


class _serving:
    def __enter__(self) -> Scripted:
        self.server = Scripted()
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()
        return self.server

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Sleeps:
    """Injectable sleep: records the delays instead of waiting (no wall clock in tests)."""

    def __init__(self, allow: bool = True) -> None:
        self.delays: list[float] = []
        self.allow = allow

    def __call__(self, seconds: float) -> bool:
        self.delays.append(seconds)
        return self.allow


EVENT = Event(
    {
        "specversion": "1.0",
        "id": "partition:0/offset:7",
        "source": "/apis/v1/namespaces/coelho/kafkasources/tfd#t",
        "type": "dev.knative.kafka.event",
        "domain": "tfd",
        "datacontenttype": "application/json",
    },
    b'{"amount": 3.5}',
)


def deliverer(sleeps: Sleeps | None = None) -> Deliverer:
    return Deliverer(sleep=sleeps or Sleeps())


def test_the_retry_classification_is_knatives() -> None:
    assert all(is_retryable(code) for code in [None, *RETRYABLE, 599])
    assert not any(is_retryable(code) for code in [100, 101, 200, *NOT_RETRYABLE, 499])


@pytest.mark.parametrize("code", RETRYABLE)
def test_each_retryable_status_is_retried(server: Scripted, code: int) -> None:
    server.script = [Reply(code), Reply(202)]
    sleeps = Sleeps()
    result = deliverer(sleeps).deliver(EVENT, DeliveryPlan(server.url, retry=3, backoff_delay=0.1))
    assert (result.outcome, result.attempts, result.status) == (Outcome.DELIVERED, 2, 202)
    assert len(server.seen) == 2 and sleeps.delays == [pytest.approx(0.2)]


@pytest.mark.parametrize("code", NOT_RETRYABLE)
def test_each_non_retryable_status_is_not_retried(server: Scripted, code: int) -> None:
    server.script = [Reply(code), Reply(202)]
    sleeps = Sleeps()
    result = deliverer(sleeps).deliver(EVENT, DeliveryPlan(server.url, retry=3))
    assert (result.outcome, result.attempts, result.status) == (Outcome.DROPPED, 1, code)
    assert len(server.seen) == 1 and sleeps.delays == []


def test_retry_counts_retries_after_the_first_attempt(server: Scripted) -> None:
    server.script = [Reply(503)] * 10
    counters = Counters()
    result = deliverer().deliver(EVENT, DeliveryPlan(server.url, retry=3), (counters,))
    assert (result.outcome, result.attempts) == (Outcome.DROPPED, 4)
    assert len(server.seen) == 4
    assert counters.snapshot()["retries"] == 3 and counters.snapshot()["dropped"] == 1


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("linear", [0.2, 0.4, 0.6, 0.8]), ("exponential", [0.4, 0.8, 1.6, 3.2])],
)
def test_backoff_schedule(server: Scripted, policy: str, expected: list[float]) -> None:
    server.script = [Reply(500)] * 5
    sleeps = Sleeps()
    plan = DeliveryPlan(server.url, retry=4, backoff_policy=policy, backoff_delay=0.2)
    deliverer(sleeps).deliver(EVENT, plan)
    assert sleeps.delays == pytest.approx(expected)
    assert plan.delays() == pytest.approx(expected)
    assert backoff_delay(policy, 0.2, 1) == pytest.approx(expected[0])


def test_a_timed_out_attempt_is_retried(server: Scripted) -> None:
    server.script = [Reply(202, delay=2.0), Reply(202)]
    result = deliverer().deliver(EVENT, DeliveryPlan(server.url, retry=1, timeout=0.2))
    assert (result.outcome, result.attempts) == (Outcome.DELIVERED, 2)


def test_dead_letter_sink_gets_the_event_with_knativeerror_extensions(
    server: Scripted, dls: Scripted
) -> None:
    server.script = [Reply(400, b"bad amount", {"kne-reason": "invalid", "X-Other": "y"})]
    counters = Counters()
    plan = DeliveryPlan(server.url, retry=5, dead_letter_url=dls.url)
    result = deliverer().deliver(EVENT, plan, (counters,))
    assert result.outcome is Outcome.DEAD_LETTERED and len(server.seen) == 1
    (letter,) = dls.seen
    assert letter.headers["ce-knativeerrordest"] == server.url
    assert letter.headers["ce-knativeerrorcode"] == "400"
    assert base64.b64decode(letter.headers["ce-knativeerrordata"]) == b"bad amount"
    assert letter.headers["ce-reason"] == "invalid"
    assert "ce-other" not in letter.headers
    assert (
        letter.headers["ce-id"] == "partition:0/offset:7" and letter.headers["ce-domain"] == "tfd"
    )
    assert letter.body == EVENT.data
    assert counters.snapshot()["dead_lettered"] == 1 and counters.snapshot()["delivered"] == 0


def test_error_data_is_truncated_to_1024_bytes(server: Scripted, dls: Scripted) -> None:
    server.script = [Reply(500, b"x" * 3000)]
    plan = DeliveryPlan(server.url, retry=0, dead_letter_url=dls.url)
    assert deliverer().deliver(EVENT, plan).outcome is Outcome.DEAD_LETTERED
    data = base64.b64decode(dls.seen[0].headers["ce-knativeerrordata"])
    assert data == b"x" * 1024


def test_network_errors_are_retried_and_dead_lettered_without_a_code(dls: Scripted) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
    sleeps = Sleeps()
    plan = DeliveryPlan(closed_url, retry=2, dead_letter_url=dls.url)
    result = deliverer(sleeps).deliver(EVENT, plan)
    assert (result.outcome, result.attempts, result.status) == (Outcome.DEAD_LETTERED, 3, None)
    assert len(sleeps.delays) == 2
    headers = dls.seen[0].headers
    assert headers["ce-knativeerrordest"] == closed_url
    assert "ce-knativeerrorcode" not in headers and "ce-knativeerrordata" not in headers


def test_a_non_empty_non_cloudevent_2xx_body_is_a_failed_delivery(
    server: Scripted, dls: Scripted
) -> None:
    server.script = [Reply(200, b"OK", {"Content-Type": "text/html"})]
    plan = DeliveryPlan(server.url, retry=3, dead_letter_url=dls.url)
    result = deliverer().deliver(EVENT, plan)
    assert result.outcome is Outcome.DEAD_LETTERED and len(server.seen) == 1  # not retried
    assert dls.seen[0].headers["ce-knativeerrorcode"] == "200"
    assert base64.b64decode(dls.seen[0].headers["ce-knativeerrordata"]) == b"OK"


def test_mt_broker_retries_a_non_cloudevent_2xx_body(server: Scripted) -> None:
    server.script = [Reply(200, b"OK"), Reply(202)]
    plan = DeliveryPlan(server.url, retry=3, invalid_reply_retryable=True)
    assert deliverer().deliver(EVENT, plan).attempts == 2


@pytest.mark.parametrize("status", [200, 202, 204])
def test_an_empty_2xx_is_success(server: Scripted, status: int) -> None:
    server.script = [Reply(status)]
    result = deliverer().deliver(EVENT, DeliveryPlan(server.url, retry=3))
    assert (result.outcome, result.attempts, result.reply) == (Outcome.DELIVERED, 1, None)


def test_a_cloudevent_reply_is_returned(server: Scripted) -> None:
    server.script = [
        Reply(
            200,
            b'{"score": 0.9}',
            {
                "ce-specversion": "1.0",
                "ce-id": "r1",
                "ce-source": "/fn",
                "ce-type": "coelho.prediction",
                "Content-Type": "application/json",
            },
        ),
        Reply(
            200,
            json.dumps(
                {
                    "specversion": "1.0",
                    "id": "r2",
                    "source": "/fn",
                    "type": "coelho.prediction",
                    "data": {"score": 1},
                }
            ).encode(),
            {"Content-Type": "application/cloudevents+json"},
        ),
    ]
    counters = Counters()
    first = deliverer().deliver(EVENT, DeliveryPlan(server.url), (counters,))
    assert first.reply is not None and first.reply.attrs["id"] == "r1"
    assert first.reply.data == b'{"score": 0.9}'
    second = deliverer().deliver(EVENT, DeliveryPlan(server.url))
    assert second.reply is not None and second.reply.attrs["type"] == "coelho.prediction"
    assert counters.snapshot()["replies"] == 1


def test_a_sink_ignores_the_response_body(server: Scripted) -> None:
    server.script = [Reply(200, b"OK")]
    result = deliverer().deliver(EVENT, DeliveryPlan(server.url, expects_reply=False))
    assert (result.outcome, result.reply) == (Outcome.DELIVERED, None)


def test_a_failing_dead_letter_sink_drops_the_event(server: Scripted, dls: Scripted) -> None:
    server.script = [Reply(400)]
    dls.script = [Reply(500)] * 3
    plan = DeliveryPlan(server.url, retry=2, dead_letter_url=dls.url)
    assert deliverer().deliver(EVENT, plan).outcome is Outcome.DROPPED
    assert len(dls.seen) == 3  # the dead-letter sink gets the same retry policy


def test_stopping_abandons_instead_of_waiting(server: Scripted, dls: Scripted) -> None:
    server.script = [Reply(503)] * 3
    counters = Counters()
    plan = DeliveryPlan(server.url, retry=5, dead_letter_url=dls.url)
    result = deliverer(Sleeps(allow=False)).deliver(EVENT, plan, (counters,))
    assert result.outcome is Outcome.ABANDONED and not result.outcome.done
    assert len(server.seen) == 1 and dls.seen == []
    assert counters.snapshot()["abandoned"] == 1


def test_binary_by_default_structured_with_format_json(server: Scripted) -> None:
    sender = deliverer()
    sender.deliver(EVENT, DeliveryPlan(server.url))
    sender.deliver(EVENT, DeliveryPlan(server.url, structured=True))
    binary, structured = server.seen
    assert binary.headers["ce-type"] == "dev.knative.kafka.event"
    assert binary.headers["content-type"] == "application/json"
    assert structured.headers["content-type"].startswith("application/cloudevents+json")
    assert json.loads(structured.body)["data"] == {"amount": 3.5}


def test_connections_are_kept_alive_and_reopened_when_the_server_closes(
    server: Scripted,
) -> None:
    sender = deliverer()
    for _ in range(20):
        assert sender.deliver(EVENT, DeliveryPlan(server.url)).outcome is Outcome.DELIVERED
    assert len({s.port for s in server.seen}) == 1  # one TCP connection for 20 events
    server.script = [Reply(202, close=True), Reply(202)]
    for _ in range(2):
        assert sender.deliver(EVENT, DeliveryPlan(server.url)).outcome is Outcome.DELIVERED
    assert len({s.port for s in server.seen}) == 2
