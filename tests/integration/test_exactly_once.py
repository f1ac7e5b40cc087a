"""Exactly-once model state (issue 2, item 6), proven against real Redis and real functions.

Each test ends by comparing the checkpointed model with plain River learning the same events
in the log's order: same count, same predictions on a holdout.
"""

from __future__ import annotations

import itertools
import json
import os
import pickle
import random
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from coelho.domains import get
from coelho.learning import OnlineModel
from coelho.stack.config import function_argv
from coelho.stack.ports import free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.state import CheckpointStore, EventLog, Keys
from coelho.state.checkpoint import sign
from tests.conftest import REPO, TEST_STATE_KEY
from tests.helpers import same_prediction

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
ENV = {"COELHO_CHECKPOINT_EVERY": "50", "COELHO_CHECKPOINT_SECONDS": "0.5",
       "COELHO_LEASE_MS": "1000", "COELHO_LOG_RETENTION": "1000000"}  # fmt: skip


def _events(domain: str, n: int, seed: int = 1) -> list[dict[str, Any]]:
    return list(itertools.islice(get(domain).produce(seed=seed, start=START), n))


def _headers(domain: str, i: int) -> dict[str, str]:
    topic = get(domain).topic
    return {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.kafka.event",
        "ce-source": f"/apis/v1/namespaces/coelho/kafkasources/{domain}#{topic}",
        "ce-id": f"partition:{i % 3}/offset:{i // 3}",
        "ce-knativekafkapartition": str(i % 3),
        "ce-knativekafkaoffset": str(i // 3),
        "ce-domain": domain,
        "content-type": "application/json",
    }


def deliver(urls: list[str], domain: str, i: int, event: dict[str, Any], deadline: float) -> int:
    """POST like a Broker: retry on network errors and 5xx until a 2xx, across replicas."""
    session = requests.Session()
    body = json.dumps(event)
    for attempt in itertools.count():
        url = urls[(i + attempt) % len(urls)]
        try:
            response = session.post(url, data=body, headers=_headers(domain, i), timeout=5)
            if response.status_code < 500:
                return response.status_code
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"event {i} not accepted before the deadline")
        time.sleep(0.05)
    raise AssertionError("unreachable")


def wait_checkpoint(client: redis.Redis, domain: str, n: int, timeout: float = 90) -> None:
    """Wait until a checkpoint covers ``n`` events (the writer checkpoints when idle)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        raw = client.hget(Keys(domain).checkpoint, "events_learned")
        if raw is not None and int(raw) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"{domain}: no checkpoint covering {n} events within {timeout} s")


def assert_equals_plain_river(client: redis.Redis, domain: str, n: int) -> None:
    """The checkpointed model == plain River fed the logged events in log order."""
    checkpoint = CheckpointStore(client, domain, TEST_STATE_KEY.encode()).load()
    assert checkpoint is not None
    entries = EventLog(client, domain, 60).entries()
    assert len(entries) == n
    assert len({(e.source, e.event_id) for e in entries}) == n, "an event was logged twice"
    reference = OnlineModel.create(domain)
    for entry in entries:
        reference.learn(entry.event, entry.position)
    assert checkpoint.model.events_learned == reference.events_learned == n
    assert checkpoint.model.offsets == reference.offsets
    for event in _events(domain, 50, seed=999):
        assert same_prediction(checkpoint.model.predict(event), reference.predict(event))
    assert checkpoint.model.metric_values() == pytest.approx(reference.metric_values())


class Replicas:
    """Several processes of one learn function, which the test may SIGKILL and restart."""

    def __init__(self, name: str, redis_url: str, logs: Path, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        # TMPDIR: the writer children's status files stay in the test's directory, even when
        # a SIGKILL leaves no one to remove them.
        env = {**os.environ, "COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": TEST_STATE_KEY,
               "TMPDIR": str(logs), **ENV}  # fmt: skip
        source = REPO / "functions" / name / "main.py"
        self.children = [
            Child(
                f"{name}-{i}",
                function_argv(source, port),
                env=env,
                cwd=REPO,
                log_path=logs / f"{name}-{i}.log",
            )  # fmt: skip
            for i, port in enumerate(self.ports)
        ]

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/" for port in self.ports]

    def start(self, i: int) -> None:
        child = self.children[i].start()
        child.wait_ready(lambda: http_ok(f"{self.urls[i]}health/readiness"), timeout=60,
                         what="ready")  # fmt: skip

    def kill(self, i: int) -> None:
        child = self.children[i]
        assert child.proc is not None
        os.killpg(child.proc.pid, signal.SIGKILL)
        child.proc.wait(timeout=10)

    def stop_all(self) -> None:
        for child in self.children:
            child.stop(timeout=10)


@pytest.fixture
def replicas(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    made: list[Replicas] = []

    def make(name: str, count: int) -> Replicas:
        group = Replicas(name, redis_url, tmp_path, count)
        made.append(group)
        for i in range(count):
            group.start(i)
        return group

    yield make
    for group in made:
        group.stop_all()


def test_redelivered_event_is_applied_once(redis_client: redis.Redis, replicas: Any) -> None:
    group = replicas("learn-tfd", 1)
    events = _events("tfd", 120)
    deadline = time.monotonic() + 60
    for _ in range(2):  # the whole stream, then every event again
        for i, event in enumerate(events):
            assert deliver(group.urls, "tfd", i, event, deadline) == 202
    wait_checkpoint(redis_client, "tfd", 120)
    counters = redis_client.hgetall(Keys("tfd").counters)
    assert int(counters[b"appended"]) == 120
    assert int(counters[b"duplicates_skipped"]) == 120
    assert_equals_plain_river(redis_client, "tfd", 120)


def test_concurrent_deliveries_to_several_processes_lose_no_update(
    redis_client: redis.Redis, replicas: Any
) -> None:
    group = replicas("learn-eta", 3)
    events = _events("eta", 600)
    deadline = time.monotonic() + 120

    statuses: list[int] = []

    def sender(worker: int) -> None:
        for i in range(worker, len(events), 6):
            statuses.append(deliver(group.urls, "eta", i, events[i], deadline))

    threads = [threading.Thread(target=sender, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [202] * len(events)
    wait_checkpoint(redis_client, "eta", 600)
    assert_equals_plain_river(redis_client, "eta", 600)


def test_sigkill_at_any_instant_loses_no_acknowledged_event(
    redis_client: redis.Redis, replicas: Any
) -> None:
    group = replicas("learn-ecci", 2)
    events = _events("ecci", 1500)
    deadline = time.monotonic() + 240
    done = threading.Event()
    kills = 0

    def killer() -> None:
        nonlocal kills
        rng = random.Random(7)
        while not done.is_set() and kills < 6:
            time.sleep(rng.uniform(0.2, 1.0))
            victim = rng.randrange(2)
            group.kill(victim)
            kills += 1
            time.sleep(rng.uniform(0.0, 0.3))
            group.start(victim)

    chaos = threading.Thread(target=killer)
    chaos.start()
    try:
        for i, event in enumerate(events):
            assert deliver(group.urls, "ecci", i, event, deadline) == 202
    finally:
        done.set()
        chaos.join()
    assert kills >= 1
    wait_checkpoint(redis_client, "ecci", 1500, timeout=120)
    assert_equals_plain_river(redis_client, "ecci", 1500)


def test_state_survives_a_restart_of_every_process(
    redis_client: redis.Redis, replicas: Any
) -> None:
    group = replicas("learn-tfd", 1)
    events = _events("tfd", 300)
    deadline = time.monotonic() + 60
    for i, event in enumerate(events[:200]):
        deliver(group.urls, "tfd", i, event, deadline)
    wait_checkpoint(redis_client, "tfd", 200)
    group.stop_all()
    group.start(0)
    for i, event in enumerate(events[200:], start=200):
        deliver(group.urls, "tfd", i, event, deadline)
    wait_checkpoint(redis_client, "tfd", 300)
    assert_equals_plain_river(redis_client, "tfd", 300)


class _Exploit:
    """Unpickling this would create a marker file: proof that bytes were executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (os.system, (f"touch {self.marker}",))


def test_tampered_state_is_refused_before_unpickling(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    blob = pickle.dumps(_Exploit(marker))
    redis_client.hset(
        Keys("tfd").checkpoint,
        mapping={
            "blob": blob,
            "mac": sign(blob, b"not-the-key"),
            "position": "0-0",
            "version": 1,
            "events_learned": 0,
            "saved_at": 0,
        },  # fmt: skip
    )
    port = free_port()
    env = {**os.environ, "COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": TEST_STATE_KEY, **ENV}
    child = Child("learn-tfd", function_argv(REPO / "functions/learn-tfd/main.py", port),
                  env=env, cwd=REPO, log_path=tmp_path / "tamper.log").start()  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        child.wait_ready(lambda: http_ok(f"{base}/health/liveness"), timeout=60, what="alive")
        readiness = requests.get(f"{base}/health/readiness", timeout=5)
        assert readiness.status_code == 503
        assert "HMAC does not verify" in readiness.json()["message"]
        event = _events("tfd", 1)[0]
        # Nothing is lost: the event is still logged for when the state is repaired.
        assert deliver([f"{base}/"], "tfd", 0, event, time.monotonic() + 30) == 202
        time.sleep(1.5)  # give a (wrongly) trusting writer the chance to unpickle
    finally:
        child.stop(timeout=10)
    assert not marker.exists(), "the tampered blob was unpickled"
    assert redis_client.xlen(Keys("tfd").log) == 1
    assert not redis_client.exists(Keys("tfd").stats)


def test_store_refuses_a_blob_signed_with_another_key(redis_client: redis.Redis) -> None:
    store = CheckpointStore(redis_client, "eta", b"right-key")
    redis_client.set(Keys("eta").lease, "token")
    assert store.save(OnlineModel.create("eta"), "0-0", 0, "token") == 1
    assert store.load() is not None
    other = CheckpointStore(redis_client, "eta", b"wrong-key")
    with pytest.raises(Exception, match="HMAC does not verify"):
        other.load()
    assert store.save(OnlineModel.create("eta"), "0-0", 0, "stale-token") is None
