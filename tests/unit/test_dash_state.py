"""The dashboard's reads of Redis: status, the capped history, verified cluster analytics.

These use the real redis-server fixture (so they are marked ``integration`` automatically):
the point is the exact key layout and stream format the writer produces.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from coelho.learning import OnlineModel
from coelho.state import CheckpointStore, Keys
from dash_app.clients import state
from dash_app.clients.problem import Problem
from dash_app.clients.state import Point
from dash_app.config import DashConfig

KEY = b"dash-test-state-key"


def _config(redis_url: str) -> DashConfig:
    return DashConfig(redis_url=redis_url, state_key=KEY, history_points=5)


def test_history_is_read_newest_last_and_bounded(redis_client: Any, redis_url: str) -> None:
    stream = Keys("eta").history
    for i in range(8):
        point = {"t": 1000.0 + i, "n": 10 * i, "m": {"MAE": 100.0 - i}}
        redis_client.xadd(stream, {"p": json.dumps(point)})
    redis_client.xadd(stream, {"p": "not json"})
    points = state.history(_config(redis_url), "eta")
    assert isinstance(points, list)
    assert [p.n for p in points] == [40, 50, 60, 70]  # newest 5 entries, the broken one skipped
    assert points[-1].m == {"MAE": 93.0}
    assert len(state.history(_config(redis_url), "eta", count=2)) == 1


def test_rate_over_recent_history() -> None:
    now = 2000.0
    points = [Point(now - 20 + i, 50 * i, {}) for i in range(21)]
    assert state.rate(points, now) == pytest.approx(50.0)
    assert state.rate(points, now + 60) == 0.0  # idle: no point for a minute
    assert state.rate(points[:1], now) == 0.0


def test_status_reads_the_writer_stats(redis_client: Any, redis_url: str) -> None:
    redis_client.hset(Keys("tfd").stats, mapping={
        "events_learned": 42, "metrics": json.dumps({"ROCAUC": 0.9}), "model": "logreg",
        "updated_at": time.time(), "lag": 3,
    })  # fmt: skip
    info = state.status(_config(redis_url), "tfd")
    assert not isinstance(info, Problem)
    assert info["events_learned"] == 42 and info["metrics"] == {"ROCAUC": 0.9}


def test_unreachable_redis_is_a_problem() -> None:
    cfg = DashConfig(redis_url="redis://127.0.0.1:1/0")
    for result in (state.status(cfg, "tfd"), state.history(cfg, "tfd"),
                   state.analytics(cfg, "ecci")):  # fmt: skip
        assert isinstance(result, Problem) and "127.0.0.1:1" in result.message


def _save(redis_client: Any, model: OnlineModel, key: bytes) -> int:
    redis_client.set(Keys("ecci").lease, "token")
    store = CheckpointStore(redis_client, "ecci", key)
    version = store.save(model, "0-1", model.events_learned, "token")
    assert version is not None
    return version


def test_cluster_analytics_come_from_the_verified_checkpoint(
    redis_client: Any, redis_url: str
) -> None:
    cfg = _config(redis_url)
    empty = state.analytics(cfg, "ecci")
    assert not isinstance(empty, Problem) and empty.version == 0 and not empty.counts
    model = OnlineModel.create("ecci")
    from coelho.domains import get

    events = get("ecci").produce(seed=7)
    for _ in range(400):
        model.learn(next(events))
    version = _save(redis_client, model, KEY)
    found = state.analytics(cfg, "ecci")
    assert not isinstance(found, Problem)
    assert found.version == version
    assert dict(found.counts) == dict(model.cluster_counts) and sum(found.counts.values()) > 0
    cluster = next(iter(model.cluster_profiles))
    assert found.profiles[cluster]["event_type"] == dict(
        model.cluster_profiles[cluster]["event_type"]
    )
    assert state.analytics(cfg, "ecci") is found  # same version: served from the cache


def test_tampered_checkpoint_is_refused(redis_client: Any, redis_url: str) -> None:
    _save(redis_client, OnlineModel.create("ecci"), b"another-key")
    found = state.analytics(_config(redis_url), "ecci")
    assert isinstance(found, Problem) and "HMAC" in found.message
