"""Recovery: Redis loses the state, the learn path restores the newest registered snapshot and
the emulator replays Kafka from the snapshot's offsets; the model ends as if nothing happened.

The topic has ONE partition, so the order of all records is total and "the same model" is
well defined (across partitions only per-partition order exists). The KafkaSource is paused
around the loss, as the documented procedure says (coelho.recovery), so no new record slips in
between the loss and the seek.

Real Kafka, Redis, MLflow (+ S3), the learn, dead-letter and snapshot functions as processes,
and the eventing emulator with the committed routing.
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaProducer

from coelho.domains import get
from coelho.eventing import Emulator
from coelho.eventing.__main__ import replay_requests
from coelho.learning import OnlineModel
from coelho.recovery import pending_replays
from coelho.stack.kafka import ensure_topics
from coelho.state.checkpoint import CheckpointStore
from coelho.state.keys import Keys
from tests.conftest import TEST_STATE_KEY
from tests.helpers import rewrite_manifests, same_prediction
from tests.integration.test_snapshot_registry import tick

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
FAST = {"COELHO_CHECKPOINT_EVERY": "50", "COELHO_CHECKPOINT_SECONDS": "0.3"}
N, M = 300, 200


def send(bootstrap: str, topic: str, events: list[dict[str, Any]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for event in events:
        producer.send(topic, json.dumps(event).encode(), key=event["transaction_id"].encode(),
                      partition=0, headers=[("content-type", b"application/json")])  # fmt: skip
    producer.flush()
    producer.close()


def learned(client: redis.Redis) -> int:
    raw = client.hget(Keys("tfd").checkpoint, "events_learned")
    return int(raw) if raw is not None else -1


def wait_until(what: str, check: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.2)


def load(client: redis.Redis) -> OnlineModel:
    checkpoint = CheckpointStore(client, "tfd", TEST_STATE_KEY.encode()).load()
    assert checkpoint is not None
    return checkpoint.model  # type: ignore[no-any-return]


def test_lost_state_is_restored_from_the_registry_and_replayed_from_kafka(
    kafka_bootstrap: str,
    redis_url: str,
    redis_client: redis.Redis,
    serve_function: Any,
    spawn_function: Any,
    mlflow_server: str,
    registry: Any,
    tmp_path: Path,
) -> None:
    tfd = get("tfd")
    run = uuid.uuid4().hex[:8]
    topic = f"{tfd.topic}-{run}"
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    registry_env = {"MLFLOW_TRACKING_URI": mlflow_server}
    services = {
        "learn-tfd": serve_function("learn-tfd", {**FAST, **registry_env}),
        "dead-letters": serve_function("dead-letters"),
        "snapshot": spawn_function("snapshot", registry_env, ready="/health/readiness"),
        # Routed by the committed Triggers but fed by no source in this test.
        "learn-eta": "http://127.0.0.1:9", "learn-ecci": "http://127.0.0.1:9",
    }  # fmt: skip
    manifests = rewrite_manifests(
        tmp_path / "eventing", group_suffix=run, topics={tfd.topic: topic}, only_sources={"tfd"}
    )
    stream = list(itertools.islice(tfd.produce(seed=21, start=START), N + M))
    take = replay_requests(redis_url)
    taken: list[tuple[str, dict[int, int]]] = []

    def replays(topic: str) -> dict[int, int] | None:
        request = take(topic)
        if request is not None:
            taken.append((topic, request))
        return request

    emulator = Emulator(manifests, kafka_bootstrap, services, commit_interval=0.2,
                        replays=replays).start()  # fmt: skip
    try:
        send(kafka_bootstrap, topic, stream[:N])
        wait_until(f"learned {N}", lambda: learned(redis_client) >= N)
        snapshot = tick(services["snapshot"], ["tfd"]).json()["tfd"]
        assert (snapshot["status"], snapshot["events_learned"]) == ("registered", N), snapshot
        send(kafka_bootstrap, topic, stream[N:])
        wait_until(f"learned {N + M}", lambda: learned(redis_client) >= N + M)
        uninterrupted = load(redis_client)
        assert uninterrupted.offsets == {topic: {0: N + M - 1}}

        assert emulator.pause("tfd", wait=30), "the source did not go idle"
        redis_client.flushall()
        # The writer finds no checkpoint, restores registered version 1 (N events) and files
        # a replay request from offset N, which the (paused) source takes and seeks to.
        wait_until("restored", lambda: learned(redis_client) == N)
        wait_until("the replay request taken", lambda: bool(taken), timeout=30)
        assert taken == [(topic, {0: N})]
        assert pending_replays(redis_client) == {}
        emulator.resume("tfd")
        wait_until(f"replayed to {N + M}", lambda: learned(redis_client) >= N + M)
    finally:
        emulator.stop()

    recovered = load(redis_client)
    assert recovered.events_learned == uninterrupted.events_learned == N + M
    assert recovered.offsets == uninterrupted.offsets
    reference = OnlineModel.create("tfd")
    for offset, event in enumerate(stream):
        reference.learn(tfd.validate(event), (topic, 0, offset))
    probes = [tfd.validate_request(e) for e in itertools.islice(tfd.produce(seed=999), 50)]
    for probe in probes:
        assert same_prediction(recovered.predict(probe), uninterrupted.predict(probe))
        assert same_prediction(recovered.predict(probe), reference.predict(probe))
    assert recovered.metric_values() == pytest.approx(uninterrupted.metric_values())
    assert recovered.metric_values() == pytest.approx(reference.metric_values())


def test_replay_requests_are_filed_per_topic_and_taken_once(redis_client: redis.Redis) -> None:
    from coelho.recovery import request_replay, take_replay

    filed = request_replay(redis_client, {"a": {0: 9, 2: 41}, "b": {1: 0}}, "tfd")
    assert filed == {"a": {"0": 10, "2": 42}, "b": {"1": 1}}
    assert pending_replays(redis_client)["a"]["domain"] == "tfd"
    assert take_replay(redis_client, "a") == {0: 10, 2: 42}
    assert take_replay(redis_client, "a") is None
    redis_client.set("coelho:replay:c", b"not json")
    assert take_replay(redis_client, "c") is None
    assert set(pending_replays(redis_client)) == {"b"}


def test_no_registry_means_no_restore_hook(
    redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coelho.recovery import restorer

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("COELHO_MLFLOW_URI", raising=False)
    assert restorer(redis_client, b"k") is None
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert callable(restorer(redis_client, b"k"))
