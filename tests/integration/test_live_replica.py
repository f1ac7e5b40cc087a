"""Predict replicas follow the log (coelho.replica): exact, never twice, never mixed.

The first test runs real learn and predict function processes: the replica's answers after
event k equal the writer's model after event k. The others drive a ``LiveReplica`` in this
process against real Redis, with checkpoints written by the real fenced save script, to reach
the cases a running stack rarely shows: a position trimmed away, a lineage replaced, a
pipeline too costly to follow.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import secrets
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from coelho.domains import get
from coelho.learning import OnlineModel
from coelho.replica import COST_WINDOW, LiveReplica
from coelho.settings import Settings
from coelho.stack.config import function_argv
from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.state import CheckpointStore, EventLog, Keys
from tests.conftest import REPO, TEST_STATE_KEY
from tests.helpers import same_prediction
from tests.integration.conftest import Checkpoints

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
KEY = TEST_STATE_KEY.encode()
WAIT = 60.0


def _events(domain: str, n: int, seed: int = 1) -> list[dict[str, Any]]:
    return list(itertools.islice(get(domain).produce(seed=seed, start=START), n))


def _probes(domain: str) -> list[dict[str, Any]]:
    return [get(domain).validate_request(e) for e in _events(domain, 8, seed=99)]


def _until(what: str, check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {timeout} s")
        time.sleep(0.05)


def _post_event(base: str, domain: str, event_id: str, event: dict[str, Any]) -> int:
    headers = {"ce-specversion": "1.0", "ce-type": "dev.coelho.test", "ce-source": "test",
               "ce-id": event_id, "content-type": "application/json"}  # fmt: skip
    return requests.post(
        f"{base}/", data=json.dumps(event), headers=headers, timeout=10
    ).status_code


@pytest.mark.parametrize("domain", ["tfd", "eta", "ecci"])
def test_a_replica_after_event_k_predicts_as_the_writer_after_event_k(
    domain: str, redis_client: redis.Redis, redis_url: str, spawn_function: Any, tmp_path: Path
) -> None:
    # The only checkpoint before the learn function stops is this empty base: the predict
    # function can reach event k only by applying the log itself.
    Checkpoints(redis_client).save(domain, OnlineModel.create(domain))
    port = free_port()
    env = {**os.environ, "COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": TEST_STATE_KEY,
           "COELHO_CHECKPOINT_SECONDS": "3600", "COELHO_CHECKPOINT_EVERY": "1000000"}  # fmt: skip
    source = REPO / "functions" / f"learn-{domain}" / "main.py"
    learn = Child(f"learn-{domain}", function_argv(source, port), env=env, cwd=REPO,
                  log_path=tmp_path / "learn.log").start()  # fmt: skip
    learn_url = f"http://{HOST}:{port}"
    try:
        learn.wait_ready(lambda: http_ok(f"{learn_url}/health/readiness"), timeout=90, what="ready")
        predict = spawn_function(f"predict-{domain}", ready="/health/readiness")
        events = _events(domain, 60)
        for i, event in enumerate(events):
            assert _post_event(learn_url, domain, f"e{i}", event) == 202
            if i == 10:  # a redelivery: acknowledged again, applied once
                assert _post_event(learn_url, domain, "e10", event) == 202

        def answers() -> list[dict[str, Any]] | None:
            got = [requests.post(f"{predict}/", json=p, timeout=10).json() for p in _probes(domain)]
            return got if all(a["model"]["events_learned"] == 60 for a in got) else None

        replica = _until("answered by a model that learned event 60", answers)
        assert int(redis_client.hget(Keys(domain).counters, "duplicates_skipped") or 0) == 1
        first = replica[0]["model"]
        assert first["version"] == 1 and first["refresh"] == "log"
        assert first["position"] == EventLog(redis_client, domain, 60).last_id()
        assert first["lag_events"] == 0 and first["lag_ms"] == 0.0
    finally:
        learn.stop(timeout=30)  # the writer checkpoints what it applied: the model after 60
    checkpoint = CheckpointStore(redis_client, domain, KEY).load()
    assert checkpoint is not None and checkpoint.model.events_learned == 60
    for answer, probe in zip(replica, _probes(domain), strict=True):
        expected = checkpoint.model.predict(probe)
        assert same_prediction({k: answer[k] for k in expected}, expected)
    # The replica re-bases on that checkpoint (version 2) and still answers the same.
    probe = _probes(domain)[0]

    def rebased() -> dict[str, Any] | None:
        answer = requests.post(f"{predict}/", json=probe, timeout=10).json()
        return answer if answer["model"]["version"] == 2 else None

    again = _until("re-based on the writer's checkpoint", rebased)
    assert again["model"]["events_learned"] == 60
    expected = checkpoint.model.predict(probe)
    assert same_prediction({k: again[k] for k in expected}, expected)
    metrics = requests.get(f"{predict}/metrics", timeout=10).text
    assert f'coelho_live_follows_log{{domain="{domain}"}} 1.0' in metrics
    assert f'coelho_live_freshness_seconds_count{{domain="{domain}"}} 60.0' in metrics


# -- one replica in this process, stepped by hand (``reload()`` runs one step) --------------


class Writer:
    """The writer's path by hand: apply the log in order, save fenced checkpoints."""

    def __init__(self, client: redis.Redis, domain: str, model: OnlineModel | None = None):
        self.client, self.domain = client, domain
        self.log = EventLog(client, domain, 3600)
        # Trim all it covers (no lakehouse archive here to wait for).
        self.store = CheckpointStore(client, domain, KEY, log_retention=0, archive_guard=False)
        self.model = model or OnlineModel.create(domain)
        self.position = "0-0"

    def append(self, events: list[dict[str, Any]], prefix: str) -> None:
        for i, event in enumerate(events):
            assert not self.log.append("test", f"{prefix}{i}", event).duplicate
        for entry in self.log.read_after(self.position, 10_000, None):
            self.model.learn(entry.event, entry.position)
            self.position = entry.entry_id

    def checkpoint(self) -> int:
        token = secrets.token_hex(8)
        self.client.set(Keys(self.domain).lease, token, px=60_000)
        version = self.store.save(self.model, self.position, self.model.events_learned, token)
        self.client.delete(Keys(self.domain).lease)
        assert version is not None
        return version


def _replica(client: redis.Redis, domain: str, **overrides: Any) -> LiveReplica:
    settings = dataclasses.replace(Settings.from_env(), state_key=KEY, predict_live="log")
    return LiveReplica(client, domain, dataclasses.replace(settings, **overrides))


def _served_after(replica: LiveReplica, learned: int) -> Any:
    """Step the replica until it serves a model that learned ``learned`` events."""
    for _ in range(10):
        replica.reload()
        served = replica.served
        assert served is not None
        if served.model.events_learned == learned:
            return served
    raise AssertionError(f"replica serves {served.model.events_learned}, wanted {learned}")


def _same(served: Any, model: OnlineModel, domain: str) -> bool:
    return all(same_prediction(served.predict(p), model.predict(p)) for p in _probes(domain))


def test_a_replica_whose_position_was_trimmed_away_rebases_without_a_gap(
    redis_client: redis.Redis,
) -> None:
    events = _events("eta", 60)
    writer = Writer(redis_client, "eta")
    writer.append(events[:20], "a")
    writer.checkpoint()
    replica = _replica(redis_client, "eta")
    assert _served_after(replica, 20)
    stale_position = replica.served.position  # type: ignore[union-attr]
    writer.append(events[20:50], "b")
    writer.checkpoint()  # covers 50 and trims every entry before it
    writer.append(events[50:], "c")
    remaining = redis_client.xrange(Keys("eta").log, f"({stale_position}", "+")
    assert len(remaining) == 11, "entries 21-49 must be gone for this test to mean anything"
    served = _served_after(replica, 60)
    assert _same(served, writer.model, "eta")


def test_a_replaced_lineage_is_never_mixed_with_the_old_one(redis_client: redis.Redis) -> None:
    first = Writer(redis_client, "tfd")
    first.append(_events("tfd", 30), "a")
    first.checkpoint()
    replica = _replica(redis_client, "tfd")
    assert replica.reload()
    # A reset: the state is gone; events keep arriving for the lineage to come.
    redis_client.delete(Keys("tfd").checkpoint, Keys("tfd").log)
    restored = OnlineModel.create("tfd")
    for event in _events("tfd", 5, seed=2):
        restored.learn(event)
    second = Writer(redis_client, "tfd", restored)
    second.append(_events("tfd", 3, seed=3), "b")
    for _ in range(3):  # no checkpoint: the old model answers and applies nothing
        replica.reload()
        assert replica.served is not None and replica.served.model.events_learned == 30
    assert second.checkpoint() == 1  # the same version number as the first lineage's
    second.append(_events("tfd", 4, seed=4), "c")
    served = _served_after(replica, 5 + 3 + 4)
    assert _same(served, second.model, "tfd")


def test_too_costly_pipelines_fall_back_to_checkpoint_reloads(redis_client: redis.Redis) -> None:
    writer = Writer(redis_client, "tfd", OnlineModel.create("tfd", "arf"))
    writer.append(_events("tfd", 20), "a")
    writer.checkpoint()
    writer.append(_events("tfd", 3 * COST_WINDOW, seed=2), "b")
    replica = _replica(redis_client, "tfd", predict_live="auto")  # the default 250 us limit
    replica.reload()
    served = _served_after(replica, 20)  # the plain checkpoint, once the cost was measured
    assert not replica.follows and served.describe()["refresh"] == "checkpoint"
    writer.checkpoint()
    assert _same(_served_after(replica, 20 + 3 * COST_WINDOW), writer.model, "tfd")


def test_cheap_pipelines_keep_following(redis_client: redis.Redis) -> None:
    writer = Writer(redis_client, "tfd")
    writer.append(_events("tfd", 20), "a")
    writer.checkpoint()
    writer.append(_events("tfd", 3 * COST_WINDOW, seed=2), "b")
    replica = _replica(redis_client, "tfd", predict_live="auto")
    replica.reload()
    served = _served_after(replica, 20 + 3 * COST_WINDOW)
    assert replica.follows and served.describe()["refresh"] == "log"
    assert _same(served, writer.model, "tfd")
