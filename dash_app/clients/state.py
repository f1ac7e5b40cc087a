"""The writer's published state in Redis: counters, the metric history and ECCI analytics.

The metric history is the capped stream ``coelho:<d>:history`` the single writer appends to at
most once a second (``XADD MAXLEN ~ 5000``); the dashboard reads only the newest
``history_points`` entries with ``XREVRANGE ... COUNT``, so both memory in Redis and the
work per refresh are bounded however long the stack runs.

Cluster analytics need the live model's ``cluster_counts``, ``cluster_profiles`` and
``recent_locations``. They are
read from the domain's checkpoint (HMAC-verified before unpickling, like every reader) and
cached by checkpoint version, so a refresh costs one HGET while the state has not moved.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from coelho.errors import StateTampered
from coelho.state import CheckpointStore, Keys
from coelho.status import domain_status
from dash_app.clients.problem import Problem
from dash_app.config import DashConfig

RATE_WINDOW_S = 30.0
IDLE_AFTER_S = 10.0


@dataclass(frozen=True)
class Point:
    """One history entry: unix time, events learned, metric values."""

    t: float
    n: int
    m: Mapping[str, float]


@dataclass(frozen=True)
class ClusterAnalytics:
    """Samples per cluster and, per cluster, per feature, a count of each value."""

    version: int
    saved_at: float = 0.0
    counts: Mapping[int, int] = field(default_factory=dict)
    profiles: Mapping[int, Mapping[str, Mapping[Any, int]]] = field(default_factory=dict)
    recent: tuple[tuple[float, float, int], ...] = ()  # (lat, lon, cluster), oldest first


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
_analytics: dict[str, ClusterAnalytics] = {}
_analytics_lock = threading.Lock()


def client(config: DashConfig) -> redis.Redis:
    """One pooled client per Redis URL, with short socket timeouts."""
    with _clients_lock:
        found = _clients.get(config.redis_url)
        if found is None:
            found = redis.Redis.from_url(
                config.redis_url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
            _clients[config.redis_url] = found
        return found


def unreachable(config: DashConfig, exc: Exception) -> Problem:
    return Problem(
        "State store unreachable",
        f"Redis at {config.redis_url} did not answer ({type(exc).__name__}).",
    )


def status(config: DashConfig, domain: str) -> dict[str, Any] | Problem:
    """``coelho.status.domain_status`` of ``domain`` or the reason it could not be read."""
    try:
        return domain_status(client(config), domain)
    except redis.RedisError as exc:
        return unreachable(config, exc)


def history(config: DashConfig, domain: str, count: int | None = None) -> list[Point] | Problem:
    """The newest ``count`` metric points, oldest first."""
    count = count or config.history_points
    try:
        entries = client(config).xrevrange(Keys(domain).history, "+", "-", count=count)
    except redis.RedisError as exc:
        return unreachable(config, exc)
    points: list[Point] = []
    for _entry_id, fields in reversed(entries):
        try:
            raw = json.loads(fields[b"p"])
            points.append(Point(float(raw["t"]), int(raw["n"]), dict(raw.get("m") or {})))
        except (KeyError, TypeError, ValueError):
            continue  # a malformed point is skipped, not fatal
    return points


def rate(points: list[Point], now: float) -> float:
    """Events learned per second over the last ``RATE_WINDOW_S`` of history (0 when idle)."""
    if len(points) < 2 or now - points[-1].t > IDLE_AFTER_S:
        return 0.0
    last = points[-1]
    first = next((p for p in points if last.t - p.t <= RATE_WINDOW_S), points[0])
    if first is last:
        first = points[-2]
    elapsed = last.t - first.t
    return max(0.0, (last.n - first.n) / elapsed) if elapsed > 0 else 0.0


def analytics(config: DashConfig, domain: str) -> ClusterAnalytics | Problem:
    """Cluster counts and profiles of the latest checkpoint (cached per version and save time;
    a rebuilt Redis restarts versions at 1, so the version alone could match a stale cache)."""
    redis_client = client(config)
    store = CheckpointStore(redis_client, domain, config.state_key)
    try:
        raw_version, raw_saved = redis_client.hmget(Keys(domain).checkpoint, "version", "saved_at")
        version, saved_at = int(raw_version or 0), float(raw_saved or 0.0)
        with _analytics_lock:
            cached = _analytics.get(domain)
        if cached is not None and (cached.version, cached.saved_at) == (version, saved_at):
            return cached
        checkpoint = store.load() if version else None
    except redis.RedisError as exc:
        return unreachable(config, exc)
    except StateTampered as exc:
        return Problem("Model state did not verify", str(exc))
    if checkpoint is None:
        result = ClusterAnalytics(version, saved_at)
    else:
        model = checkpoint.model
        result = ClusterAnalytics(
            checkpoint.version,
            checkpoint.saved_at,
            counts={int(k): int(v) for k, v in getattr(model, "cluster_counts", {}).items()},
            profiles={
                int(c): {name: dict(counter) for name, counter in features.items()}
                for c, features in getattr(model, "cluster_profiles", {}).items()
            },
            recent=tuple(getattr(model, "recent_locations", ())),
        )
    with _analytics_lock:
        _analytics[domain] = result
    return result
