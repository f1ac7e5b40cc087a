"""The guard and ``coelho reset`` on real Redis, MLflow (+ S3) and function processes.

A healthy ETA model becomes the champion; a diverging one (an injected learning rate) is
installed as the live state; the writer's guard marks it diverged, Prometheus counts it, the
predict function answers from the champion naming the fallback, the snapshot registers it
tagged and unpromoted; ``coelho reset eta`` restores the champion and the writer replays the
log after it, each entry once: the live model ends equal to plain River fed the log.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from coelho.cli import main
from coelho.domains import get
from coelho.learning import OnlineModel
from coelho.reset import reset
from coelho.state import CheckpointStore, EventLog, Keys
from coelho.status import domain_status
from tests.conftest import TEST_STATE_KEY
from tests.helpers import same_prediction
from tests.integration.test_exactly_once import deliver
from tests.integration.test_snapshot_registry import tick
from tests.unit.test_model_guard import diverging

WEDNESDAY = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
FAST = {"COELHO_CHECKPOINT_EVERY": "50", "COELHO_CHECKPOINT_SECONDS": "0.3",
        "COELHO_LEASE_MS": "1000", "COELHO_LOG_RETENTION": "100000"}  # fmt: skip
N, M = 300, 120


def wait_until(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout} s")
        time.sleep(0.2)


def checkpoint(client: redis.Redis) -> Any:
    found = CheckpointStore(client, "eta", TEST_STATE_KEY.encode()).load()
    assert found is not None
    return found


def learned(client: redis.Redis) -> int:
    raw = client.hget(Keys("eta").checkpoint, "events_learned")
    return int(raw) if raw is not None else -1


def health(client: redis.Redis, state: str) -> dict[str, Any] | None:
    """The guard state the writer published, if it is ``state``."""
    found = domain_status(client, "eta")["health"]
    return found if found["state"] == state else None


def metric(base: str, line_start: str) -> float:
    for line in requests.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_guard_falls_back_to_the_champion_and_reset_restores_the_live_model(
    redis_url: str,
    redis_client: redis.Redis,
    serve_function: Any,
    spawn_function: Any,
    mlflow_server: str,
    registry: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    eta = get("eta")
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    learn = serve_function("learn-eta", {**FAST, **env})
    snapshot = spawn_function("snapshot", {**env, "COELHO_PROMOTE_MIN_EVENTS": "100"},
                              ready="/health/readiness")  # fmt: skip
    predict = spawn_function("predict-eta", {**env, "COELHO_PREDICT_STALENESS_MS": "50"})
    events = list(itertools.islice(eta.produce(seed=3, start=WEDNESDAY), N + M))
    deadline = time.monotonic() + 120
    for i, event in enumerate(events[:N]):
        assert deliver([learn], "eta", i, event, deadline) == 202

    # 1. A healthy model becomes the champion (and the writer learns the champion's metrics).
    wait_until(f"{N} learned", lambda: learned(redis_client) == N)
    first = tick(snapshot, ["eta"]).json()["eta"]
    assert (first["status"], first["version"], first["promoted"]) == ("registered", 1, True)
    assert first["health"] == "ok"
    assert redis_client.hget(Keys("eta").snapshot, "champion_metrics")

    # 2. A diverging model is installed as the live state, through the fenced reset path.
    current = checkpoint(redis_client)
    installed = reset(redis_client, "eta", diverging(current.model), 0, current.position,
                      TEST_STATE_KEY.encode(), log_retention=100_000)  # fmt: skip
    assert installed.replay == "log" and installed.state_version > current.version
    for i, event in enumerate(events[N:], N):
        assert deliver([learn], "eta", i, event, deadline) == 202
    verdict = wait_until("diverged", lambda: health(redis_client, "diverged"))
    assert "physical range" in verdict["reason"] or "not finite" in verdict["reason"]
    diverged = 'coelho_model_health{domain="eta",state="diverged"}'
    wait_until("diverged in Prometheus", lambda: metric(learn, diverged) == 1.0, timeout=10)
    assert metric(learn, 'coelho_guard_predictions_total{domain="eta",verdict="far_out"}') > 0

    # 3. Live predictions come from the champion, and say so.
    request = eta.validate_request(events[0])
    answer = wait_until("a fallback", lambda: (
        lambda body: body if body["model"].get("fallback") else None
    )(requests.post(predict, json=request, timeout=60).json()))  # fmt: skip
    assert (answer["model"]["source"], answer["model"]["version"]) == ("champion", 1)
    assert answer["model"]["fallback"]["from"] == "live"
    assert answer["model"]["fallback"]["state"] == "diverged"
    assert 0 <= answer["eta_seconds"] <= 86_400
    assert metric(predict, 'coelho_predict_fallbacks_total{domain="eta",state="diverged"}') >= 1

    # 4. The diverged state is registered tagged, never promoted, never a reset target.
    wait_until("checkpointed", lambda: learned(redis_client) == N + M)
    second = tick(snapshot, ["eta"]).json()["eta"]
    assert second["status"] == "registered" and second["health"].startswith("diverged")
    assert second["promoted"] is False and "diverged" in second["reason"]
    assert registry.get_model_version_by_alias("eta-river", "champion").version == "1"
    monkeypatch.setenv("COELHO_HOME", str(tmp_path / "no-stack"))
    monkeypatch.setenv("COELHO_REDIS_URL", redis_url)
    monkeypatch.setenv("COELHO_STATE_KEY", TEST_STATE_KEY)
    assert main(["promote", "eta", str(second["version"])]) == 1
    assert main(["reset", "eta", "--to", str(second["version"])]) == 1

    # 5. ``coelho reset eta`` (to the champion) restores the live model: the writer replays the
    # log after version 1's position, each entry once.
    assert main(["reset", "eta"]) == 0
    wait_until(
        "replayed",
        lambda: (
            learned(redis_client) == N + M and checkpoint(redis_client).model.health.state == "ok"
        ),
    )
    wait_until("ok in the stats", lambda: health(redis_client, "ok"))
    restored = checkpoint(redis_client).model
    entries = EventLog(redis_client, "eta", 60).entries()
    assert len(entries) == N + M
    reference = OnlineModel.create("eta")
    for entry in entries:
        reference.learn(entry.event, entry.position)
    assert restored.offsets == reference.offsets
    for probe in itertools.islice(eta.produce(seed=99), 20):
        probe = eta.validate_request(probe)
        assert same_prediction(restored.predict(probe), reference.predict(probe))
    assert restored.metric_values() == pytest.approx(reference.metric_values())
    answer = wait_until("live again", lambda: (
        lambda body: body if body["model"]["source"] == "live" else None
    )(requests.post(predict, json=request, timeout=60).json()))  # fmt: skip
    assert "fallback" not in answer["model"]
    assert same_prediction({"eta_seconds": answer["eta_seconds"]},
                           {"eta_seconds": reference.predict(request)["eta_seconds"]})  # fmt: skip
    assert domain_status(redis_client, "eta")["lag"] == 0
    # The new lineage is registered although its event count equals version 2's.
    third = tick(snapshot, ["eta"]).json()["eta"]
    assert (third["status"], third["version"], third["health"]) == ("registered", 3, "ok")
    wait_until("ok in Prometheus", lambda: metric(
        learn, 'coelho_model_health{domain="eta",state="ok"}') == 1.0, timeout=10)  # fmt: skip


def test_reset_replays_from_kafka_when_the_log_no_longer_reaches_back(
    kafka_bootstrap: str,
    redis_url: str,
    redis_client: redis.Redis,
    serve_function: Any,
    spawn_function: Any,
    mlflow_server: str,
    registry: Any,
    tmp_path: Path,
) -> None:
    """The Kafka path of ``coelho.reset``: the source is paused, the dedupe markers dropped,
    and the emulator re-delivers the topic from the version's offsets. One partition, so the
    order of all records is total and "the same model" is well defined (as in recovery)."""
    import uuid

    from kafka import KafkaProducer

    from coelho.eventing import Emulator
    from coelho.eventing.__main__ import replay_requests
    from coelho.registry import shared, version_info
    from coelho.serving import Selector
    from coelho.stack.kafka import ensure_topics
    from tests.helpers import rewrite_manifests

    eta = get("eta")
    run = uuid.uuid4().hex[:8]
    topic = f"{eta.topic}-{run}"
    ensure_topics(kafka_bootstrap, [topic], partitions=1)
    env = {"MLFLOW_TRACKING_URI": mlflow_server}
    services = {
        "learn-eta": serve_function("learn-eta", {**FAST, **env}),
        "dead-letters": serve_function("dead-letters"),
        "learn-tfd": "http://127.0.0.1:9", "learn-ecci": "http://127.0.0.1:9",
    }  # fmt: skip
    snapshot = spawn_function("snapshot", env, ready="/health/readiness")
    manifests = rewrite_manifests(
        tmp_path / "eventing", group_suffix=run, topics={eta.topic: topic}, only_sources={"eta"}
    )
    stream = list(itertools.islice(eta.produce(seed=8, start=WEDNESDAY), N + M))

    def send(events: list[dict[str, Any]]) -> None:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        for event in events:
            producer.send(topic, json.dumps(event).encode(), key=event["trip_id"].encode(),
                          partition=0, headers=[("content-type", b"application/json")])  # fmt: skip
        producer.flush()
        producer.close()

    emulator = Emulator(manifests, kafka_bootstrap, services, commit_interval=0.2,
                        replays=replay_requests(redis_url)).start()  # fmt: skip
    try:
        send(stream[:N])
        wait_until(f"{N} learned", lambda: learned(redis_client) == N)
        first = tick(snapshot, ["eta"]).json()["eta"]
        assert (first["status"], first["version"]) == ("registered", 1)
        send(stream[N:])
        wait_until(f"{N + M} learned", lambda: learned(redis_client) == N + M)
        uninterrupted = checkpoint(redis_client).model
        # The log no longer reaches back to version 1 (as with a short COELHO_LOG_RETENTION).
        redis_client.xtrim(Keys("eta").log, maxlen=10, approximate=False)
        registry_ = shared(mlflow_server)
        found = registry_.resolve("eta", Selector("version", 1))
        info = version_info(found)
        result = reset(
            redis_client, "eta", registry_.load(found, TEST_STATE_KEY.encode()), 1,
            info.position, TEST_STATE_KEY.encode(), log_retention=100_000,
            pause=lambda: None if emulator.pause("eta", wait=30) else pytest.fail("not idle"),
            resume=lambda: emulator.resume("eta"),
        )  # fmt: skip
        assert result.replay == "kafka", result
        assert result.replay_from["offsets"] == {topic: {"0": N}}
        # Kafka records are deduplicated by position: their ranges are dropped and the floor
        # is what version 1 covers, so the replayed records after it are appended again.
        assert result.replay_from["dedupe_markers_dropped"] >= 1
        assert not list(redis_client.scan_iter(match=Keys("eta").all_positions))
        assert redis_client.hgetall(Keys("eta").floors) == {
            f"{topic}:0".encode(): str(N - 1).encode()
        }
        oldest = redis_client.xrange(Keys("eta").log, count=1)[0][0].decode()
        assert oldest == result.position  # the abandoned lineage's entries are gone
        wait_until("replayed", lambda: learned(redis_client) == N + M and not (
            redis_client.exists(f"coelho:replay:{topic}")))  # fmt: skip
    finally:
        emulator.stop()
    recovered = checkpoint(redis_client).model
    assert recovered.events_learned == N + M
    assert recovered.offsets == uninterrupted.offsets == {topic: {0: N + M - 1}}
    reference = OnlineModel.create("eta")
    for offset, event in enumerate(stream):
        reference.learn(eta.validate(event), (topic, 0, offset))
    for probe in itertools.islice(eta.produce(seed=99), 20):
        probe = eta.validate_request(probe)
        assert same_prediction(recovered.predict(probe), uninterrupted.predict(probe))
        assert same_prediction(recovered.predict(probe), reference.predict(probe))
    assert recovered.metric_values() == pytest.approx(reference.metric_values())


def test_the_log_covers_a_position_only_while_nothing_after_it_was_trimmed(
    redis_client: redis.Redis,
) -> None:
    from coelho.reset import log_covers

    log = Keys("eta").log
    assert not log_covers(redis_client, "eta", "5-0")  # no log, no checkpoint
    ids = [redis_client.xadd(log, {"d": "{}"}, id=f"{i}-0").decode() for i in range(1, 6)]
    assert log_covers(redis_client, "eta", ids[2]) and log_covers(redis_client, "eta", ids[0])
    assert not log_covers(redis_client, "eta", "0-0") and not log_covers(redis_client, "eta", None)
    redis_client.xtrim(log, minid="4-0", approximate=False)
    assert not log_covers(redis_client, "eta", ids[2])  # 3 is gone: what followed it may be too
    assert log_covers(redis_client, "eta", ids[3])
    redis_client.delete(log)
    redis_client.hset(Keys("eta").checkpoint, "position", "5-0")
    assert log_covers(redis_client, "eta", "5-0") and not log_covers(redis_client, "eta", "4-0")
