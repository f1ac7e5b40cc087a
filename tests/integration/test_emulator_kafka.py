"""The emulator against a real Kafka: routing, ordering, dead letters, commits, pause, edits.

Every test uses its own 3-partition topic and consumer group on the session Kafka, and local
HTTP subscribers on free loopback ports.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient

from coelho.eventing import Emulator
from coelho.eventing.cloudevent import format_time
from coelho.stack.kafka import ensure_topics

pytestmark = pytest.mark.integration
Responder = Callable[[dict[str, str], bytes], tuple[int, bytes, dict[str, str]]]
BROKER_REF = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "br"}


class Subscriber(ThreadingHTTPServer):
    """Records every POST (headers lower-cased + body) and answers via ``respond``."""

    daemon_threads = True

    def __init__(self, respond: Responder | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond or (lambda headers, body: (202, b"", {}))
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, args=(0.02,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def ids(self) -> list[str]:
        with self.lock:
            return [s["ce-id"] for s in self.seen]

    def bodies(self) -> list[bytes]:
        with self.lock:
            return [s["body"] for s in self.seen]

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # an emulator that stopped mid-request closed the socket


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Subscriber

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            self.server.seen.append({**headers, "body": body})
        status, reply, reply_headers = self.server.respond(headers, body)
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def trigger(
    name: str,
    service: str,
    filters: list[Any],
    *,
    delivery: dict[str, Any] | None = None,
    ordered: bool = True,
) -> dict[str, Any]:
    order = "ordered" if ordered else "unordered"
    spec: dict[str, Any] = {
        "broker": "br",
        "filters": filters,
        "subscriber": {
            "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": service}
        },
    }
    if delivery:
        spec["delivery"] = delivery
    return {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {
            "name": name,
            "annotations": {"kafka.eventing.knative.dev/delivery.order": order},
        },
        "spec": spec,
    }


class Rig:
    """One test's topic, group, manifests dir, subscribers and emulators."""

    def __init__(self, bootstrap: str, root: Path) -> None:
        self.bootstrap = bootstrap
        self.topic = f"emu-{uuid.uuid4().hex[:10]}"
        self.group = f"group-{self.topic}"
        self.dir = root / "eventing"
        self.dir.mkdir()
        self.services: dict[str, str] = {}
        self.subscribers: list[Subscriber] = []
        self.emulators: list[Emulator] = []
        ensure_topics(bootstrap, [self.topic], partitions=3)

    def subscriber(self, name: str, respond: Responder | None = None) -> Subscriber:
        server = Subscriber(respond)
        self.subscribers.append(server)
        self.services[name] = server.url
        return server

    def write(self, *triggers: dict[str, Any], ordering: str = "ordered") -> None:
        broker = {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": {
                "name": "br",
                "annotations": {"eventing.knative.dev/broker.class": "Kafka"},
            },
        }
        source = {
            "apiVersion": "sources.knative.dev/v1",
            "kind": "KafkaSource",
            "metadata": {"name": "src"},
            "spec": {
                "bootstrapServers": ["cluster-kafka:9092"],
                "topics": [self.topic],
                "consumerGroup": self.group,
                "initialOffset": "earliest",
                "ordering": ordering,
                "ceOverrides": {"extensions": {"domain": "d1"}},
                "sink": {"ref": BROKER_REF},
            },
        }
        (self.dir / "m.yaml").write_text(yaml.safe_dump_all([broker, source, *triggers]))

    def start(self, **options: Any) -> Emulator:
        emulator = Emulator(self.dir, self.bootstrap, self.services, commit_interval=0.2, **options)
        self.emulators.append(emulator)
        emulator.start()
        assert emulator.wait_assigned(60), "partitions were never assigned"
        return emulator

    def produce(self, records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]) -> list:
        producer = KafkaProducer(bootstrap_servers=self.bootstrap)
        try:
            futures = [producer.send(self.topic, key=k, value=v, headers=h) for k, v, h in records]
            return [f.get(timeout=30) for f in futures]
        finally:
            producer.close()

    def committed(self) -> dict[int, int]:
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap)
        try:
            offsets = admin.list_group_offsets(self.group).get(self.group, {})
        finally:
            admin.close()
        return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    def close(self) -> None:
        for emulator in self.emulators:
            emulator.stop(grace=0.5)
        for server in self.subscribers:
            server.shutdown()
            server.server_close()


@pytest.fixture
def rig(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Rig]:
    setup = Rig(kafka_bootstrap, tmp_path)
    try:
        yield setup
    finally:
        setup.close()


def event_id(meta: Any) -> str:
    return f"partition:{meta.partition}/offset:{meta.offset}"


def expected_commits(metas: list[Any]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for meta in metas:
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    return ends


def test_each_record_reaches_exactly_the_matching_subscriber(rig: Rig) -> None:
    a, b = rig.subscriber("a"), rig.subscriber("b")
    rig.write(
        trigger("to-a", "a", [{"exact": {"kafkaheaderroute": "a"}}]),
        trigger(
            "to-b",
            "b",
            [{"not": {"exact": {"kafkaheaderroute": "a"}}}, {"exact": {"domain": "d1"}}],
        ),
    )
    rig.start()
    records = [
        (
            f"key-{i}".encode(),
            f'{{"i": {i}}}'.encode(),
            [("content-type", b"application/json"), ("route", b"a" if i % 3 == 0 else b"b")],
        )
        for i in range(30)
    ]
    metas = rig.produce(records)
    wait_for(lambda: len(a.seen) + len(b.seen) == 30, "30 deliveries")
    assert sorted(a.ids()) == sorted(event_id(m) for i, m in enumerate(metas) if i % 3 == 0)
    assert sorted(b.ids()) == sorted(event_id(m) for i, m in enumerate(metas) if i % 3 != 0)
    by_id = {s["ce-id"]: s for s in a.seen + b.seen}
    for i, meta in enumerate(metas):
        got = by_id[event_id(meta)]
        assert got["ce-specversion"] == "1.0" and got["ce-type"] == "dev.knative.kafka.event"
        assert got["ce-source"] == f"/apis/v1/namespaces/coelho/kafkasources/src#{rig.topic}"
        assert got["ce-subject"] == f"partition:{meta.partition}#{meta.offset}"
        assert got["ce-time"] == format_time(meta.timestamp)
        assert got["ce-key"] == got["ce-partitionkey"] == f"key-{i}"
        assert got["ce-kafkaheaderroute"] == ("a" if i % 3 == 0 else "b")
        assert got["ce-knativekafkapartition"] == str(meta.partition)
        assert got["ce-knativekafkaoffset"] == str(meta.offset)
        assert got["ce-domain"] == "d1" and got["content-type"] == "application/json"
        assert got["body"] == f'{{"i": {i}}}'.encode()
    wait_for(lambda: rig.committed() == expected_commits(metas), "offsets committed")


def test_per_partition_order_is_preserved_when_ordered(rig: Rig) -> None:
    def slow(headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        time.sleep(0.001 * (hash(headers["ce-id"]) % 3))
        return 202, b"", {}

    a = rig.subscriber("a", slow)
    rig.write(trigger("all", "a", [{"exact": {"domain": "d1"}}]))
    rig.start()
    metas = rig.produce([(f"k{i % 10}".encode(), b"x", []) for i in range(300)])
    wait_for(lambda: len(a.seen) == 300, "300 deliveries")
    arrival: dict[int, list[int]] = {}
    for seen in a.seen:
        arrival.setdefault(int(seen["ce-knativekafkapartition"]), []).append(
            int(seen["ce-knativekafkaoffset"])
        )
    produced: dict[int, list[int]] = {}
    for meta in metas:
        produced.setdefault(meta.partition, []).append(meta.offset)
    assert len(produced) == 3
    assert arrival == {p: sorted(offsets) for p, offsets in produced.items()}


def test_a_400_goes_to_the_dead_letter_sink_and_the_stream_goes_on(rig: Rig) -> None:
    def picky(headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if b"poison" in body:
            return 400, b"poison rejected", {"kne-reason": "poison"}
        return 202, b"", {}

    a, dls = rig.subscriber("a", picky), rig.subscriber("dead-letters")
    delivery = {
        "retry": 3,
        "backoffDelay": "PT0.01S",
        "deadLetterSink": {
            "ref": {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "name": "dead-letters",
            }
        },
    }
    rig.write(trigger("all", "a", [{"exact": {"domain": "d1"}}], delivery=delivery))
    emulator = rig.start()
    metas = rig.produce([(b"same", body, []) for body in (b"ok-1", b"poison", b"ok-2", b"ok-3")])
    wait_for(lambda: len(a.seen) == 4 and len(dls.seen) == 1, "4 attempts and 1 dead letter")
    assert a.bodies() == [b"ok-1", b"poison", b"ok-2", b"ok-3"]  # 400 is not retried
    letter = dls.seen[0]
    assert letter["ce-id"] == event_id(metas[1]) and letter["body"] == b"poison"
    assert letter["ce-knativeerrorcode"] == "400"
    assert letter["ce-knativeerrordest"] == rig.services["a"]
    assert base64.b64decode(letter["ce-knativeerrordata"]) == b"poison rejected"
    assert letter["ce-reason"] == "poison"
    counts = emulator.stats()["triggers"]["coelho/all"]
    assert (counts["delivered"], counts["dead_lettered"], counts["retries"]) == (3, 1, 0)
    wait_for(lambda: rig.committed() == expected_commits(metas), "offsets committed")


def test_offsets_are_committed_only_after_delivery(rig: Rig) -> None:
    release = threading.Event()

    def stall(headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        if body == b"stall":
            release.wait(30)
        return 202, b"", {}

    a = rig.subscriber("a", stall)
    rig.write(trigger("all", "a", [{"exact": {"domain": "d1"}}]))
    first = rig.start()
    metas = rig.produce([(b"same", body, []) for body in (b"first", b"stall", b"after")])
    partition = metas[0].partition
    wait_for(lambda: a.bodies() == [b"first", b"stall"], "the stalled delivery")
    wait_for(lambda: rig.committed().get(partition) == metas[1].offset, "the first commit")
    time.sleep(0.5)  # ordered: nothing after the stalled record may start meanwhile
    assert a.bodies() == [b"first", b"stall"]
    first.stop(grace=0.3)
    assert rig.committed()[partition] == metas[1].offset  # the stalled record is not committed
    release.set()
    rig.start()
    wait_for(lambda: len(a.seen) == 4, "the redelivery after restart")
    assert a.bodies() == [b"first", b"stall", b"stall", b"after"]  # redelivered, none skipped
    wait_for(lambda: rig.committed()[partition] == metas[2].offset + 1, "the final commit")


def test_pause_and_resume_lose_nothing(rig: Rig) -> None:
    def slowish(headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict[str, str]]:
        time.sleep(0.002)
        return 202, b"", {}

    a = rig.subscriber("a", slowish)
    rig.write(trigger("all", "a", [{"exact": {"domain": "d1"}}]))
    emulator = rig.start(control_port=0)
    metas = rig.produce([(f"k{i}".encode(), str(i).encode(), []) for i in range(400)])
    wait_for(lambda: len(a.seen) >= 20, "some deliveries")
    assert emulator.pause("src", wait=30), "the source never became idle after pause"
    paused_count = len(a.seen)
    status = emulator.stats()["sources"]["coelho/src"]
    assert status["paused"] and all(p["in_flight"] == 0 for p in status["partitions"].values())
    metas += rig.produce([(f"late{i}".encode(), b"late", []) for i in range(50)])
    time.sleep(1.0)  # paused: nothing may be delivered meanwhile
    assert len(a.seen) == paused_count < 450
    assert emulator.control is not None
    base = f"http://127.0.0.1:{emulator.control.port}"
    with urllib.request.urlopen(f"{base}/metrics") as response:
        assert 'coelho_eventing_source_paused{source="coelho/src"} 1' in response.read().decode()
    resume = urllib.request.Request(f"{base}/sources/src/resume", data=b"", method="POST")
    with urllib.request.urlopen(resume) as response:
        assert json.load(response)["paused"] is False
    wait_for(lambda: len(set(a.ids())) == 450, "every record after resume")
    assert sorted(a.ids()) == sorted(event_id(m) for m in metas)  # none lost, none twice
    wait_for(lambda: rig.committed() == expected_commits(metas), "offsets committed")


def test_flow_control_pauses_fetching_without_stalling_or_reordering(rig: Rig) -> None:
    """A backlog fetched before start overflows tiny queues: partitions pause partly drained.

    This is the case where kafka-python 3.0.12 alone leaves a resumed partition parked forever
    (see ``release_parked_records``).
    """
    a = rig.subscriber("a")
    rig.write(trigger("all", "a", [{"exact": {"domain": "d1"}}]))
    metas = rig.produce([(f"k{i}".encode(), b"x" * 50, []) for i in range(1500)])
    emulator = rig.start(queue_limits=(100, 20), consumer_options={"max_poll_records": 50})
    wait_for(lambda: len(a.seen) == 1500, "1500 deliveries", timeout=30)
    by_partition: dict[int, list[int]] = {}
    for seen in a.seen:
        by_partition.setdefault(int(seen["ce-knativekafkapartition"]), []).append(
            int(seen["ce-knativekafkaoffset"])
        )
    assert all(offsets == sorted(offsets) for offsets in by_partition.values())
    assert sorted(a.ids()) == sorted(event_id(m) for m in metas)
    assert emulator.stats()["sources"]["coelho/src"]["records"] == 1500


def test_unordered_delivers_everything_and_commits_the_prefix(rig: Rig) -> None:
    a = rig.subscriber("a")
    rig.write(
        trigger("all", "a", [{"exact": {"domain": "d1"}}], ordered=False), ordering="unordered"
    )
    rig.start(max_in_flight=8)
    metas = rig.produce([(f"k{i}".encode(), b"x", []) for i in range(200)])
    wait_for(lambda: len(set(a.ids())) == 200, "200 deliveries")
    wait_for(lambda: rig.committed() == expected_commits(metas), "offsets committed")


def test_editing_a_trigger_filter_and_restarting_changes_routing(rig: Rig) -> None:
    a, b = rig.subscriber("a"), rig.subscriber("b")
    rig.write(
        trigger("t1", "a", [{"exact": {"domain": "d1"}}]),
        trigger("t2", "b", [{"exact": {"domain": "other"}}]),
    )
    first = rig.start()
    metas = rig.produce([(b"k", b"before", []) for _ in range(5)])
    wait_for(lambda: len(a.seen) == 5, "5 deliveries to a")
    wait_for(lambda: rig.committed() == expected_commits(metas), "offsets committed")
    first.stop(grace=0.5)
    rig.write(
        trigger("t1", "a", [{"exact": {"domain": "other"}}]),
        trigger("t2", "b", [{"prefix": {"domain": "d"}}]),
    )
    rig.start()
    rig.produce([(b"k", b"after", []) for _ in range(5)])
    wait_for(lambda: len(b.seen) == 5, "5 deliveries to b")
    assert b.bodies() == [b"after"] * 5
    assert a.bodies() == [b"before"] * 5
