"""The whole local learn path: Kafka → KafkaSource → Broker → Trigger → learn function → Redis.

Real Kafka, real Redis, real functions-framework processes, and the eventing emulator driven
by the committed ``eventing/`` manifests (only topics and consumer groups are renamed so tests
do not share records).
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer

from coelho.domains import REGISTRY, get
from coelho.eventing import Emulator
from coelho.producer import run as produce
from coelho.stack.kafka import ensure_topics
from coelho.state import EventLog
from coelho.state.keys import DEAD_LETTERS
from coelho.status import domain_status
from tests.helpers import rewrite_manifests
from tests.integration.test_exactly_once import assert_equals_plain_river, wait_checkpoint

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
FAST = {"COELHO_CHECKPOINT_EVERY": "100", "COELHO_CHECKPOINT_SECONDS": "0.5",
        "COELHO_LOG_RETENTION": "1000000"}  # fmt: skip


@pytest.fixture
def local_path(
    kafka_bootstrap: str, serve_function: Any, tmp_path: Path
) -> Iterator[tuple[dict[str, str], Any]]:
    """Private topics, the learn + dead-letter functions, and an emulator started on demand."""
    run = uuid.uuid4().hex[:8]
    topics = {d.topic: f"{d.topic}-{run}" for d in REGISTRY.values()}
    ensure_topics(kafka_bootstrap, topics.values())
    services = {f"learn-{d}": serve_function(f"learn-{d}", FAST) for d in REGISTRY}
    services["dead-letters"] = serve_function("dead-letters")
    manifests = rewrite_manifests(tmp_path / "eventing", group_suffix=run, topics=topics)
    emulators: list[Emulator] = []

    def start() -> Emulator:
        emulator = Emulator(manifests, kafka_bootstrap, services, commit_interval=0.2).start()
        emulators.append(emulator)
        return emulator

    yield topics, start
    for emulator in emulators:
        emulator.stop()


def test_differential_local_path_equals_plain_river(
    kafka_bootstrap: str, redis_client: redis.Redis, local_path: Any
) -> None:
    topics, start = local_path
    n = 300
    for key, spec in REGISTRY.items():
        produce(key, kafka_bootstrap, count=n, seed=21, rate=0, start=START,
                topic=topics[spec.topic])  # fmt: skip
    start()
    for key, spec in REGISTRY.items():
        wait_checkpoint(redis_client, key, n, timeout=180)
        logged = EventLog(redis_client, key, 60).entries()
        produced = list(itertools.islice(spec.produce(seed=21, start=START), n))
        # The same events, each once, and each partition's records in Kafka order.
        by_id = {e.event[spec.event_id]: e for e in logged}
        assert sorted(by_id) == sorted(e[spec.event_id] for e in produced)
        for partition in {e.position[1] for e in logged if e.position}:
            offsets = [e.position[2] for e in logged if e.position and e.position[1] == partition]
            assert offsets == sorted(offsets)
        assert_equals_plain_river(redis_client, key, n)
        status = domain_status(redis_client, key)
        assert status["dead_lettered"] == 0 and status["duplicates_skipped"] == 0


def test_malformed_events_are_dead_lettered_and_never_touch_the_model(
    kafka_bootstrap: str, redis_client: redis.Redis, local_path: Any
) -> None:
    topics, start = local_path
    tfd = get("tfd")
    topic = topics[tfd.topic]
    good = list(itertools.islice(tfd.produce(seed=5, start=START), 60))
    missing = {k: v for k, v in good[0].items() if k != "amount"}
    mistyped = {**good[1], "currency": 42}
    bad = [b"{not json", json.dumps(missing).encode(), json.dumps(mistyped).encode()]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    headers = [("content-type", b"application/json")]
    for i, event in enumerate(good):
        # All on one partition, the bad records in the middle: the stream must go on past them.
        producer.send(topic, json.dumps(event).encode(), partition=0, headers=headers)
        if i == 30:
            for record in bad:
                producer.send(topic, record, partition=0, headers=headers)
    producer.flush()
    producer.close()
    start()
    wait_checkpoint(redis_client, "tfd", 60, timeout=180)
    assert_equals_plain_river(redis_client, "tfd", 60)
    status = domain_status(redis_client, "tfd")
    assert status["events_learned"] == 60
    assert status["rejected"] == 3
    assert status["dead_lettered"] == 3
    letters = [fields for _, fields in redis_client.xrange(DEAD_LETTERS)]
    reasons = sorted(json.loads(f[b"reason"])["message"] for f in letters)
    assert [f[b"code"] for f in letters] == [b"400"] * 3
    assert reasons == [
        "amount: is required",
        "currency: expected string, got integer",
        "data: not valid JSON: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)",
    ]
    assert {f[b"domain"] for f in letters} == {b"tfd"}
