"""Per-domain status read from Redis: what ``coelho status`` and the dashboard show."""

from __future__ import annotations

import json
from typing import Any

import redis

from coelho.domains import REGISTRY
from coelho.lakehouse.status import archive_status
from coelho.state.keys import Keys


def domain_status(client: redis.Redis, domain: str) -> dict[str, Any]:
    keys = Keys(domain)
    stats = {k.decode(): v.decode() for k, v in client.hgetall(keys.stats).items()}
    counters = {k.decode(): int(v) for k, v in client.hgetall(keys.counters).items()}
    version = client.hget(keys.checkpoint, "version")
    return {
        "events_learned": int(stats.get("events_learned", 0)),
        "duplicates_skipped": counters.get("duplicates_skipped", 0),
        "dead_lettered": counters.get("dead_lettered", 0),
        "rejected": counters.get("rejected", 0),
        "appended": counters.get("appended", 0),
        "state_version": int(version) if version else 0,
        "lag": int(stats.get("lag", 0)),
        "lag_ms": float(stats.get("lag_ms", 0.0)),
        "model": stats.get("model", ""),
        "metrics": json.loads(stats.get("metrics", "{}")),
        "offsets": json.loads(stats.get("offsets", "{}")),
        "updated_at": float(stats.get("updated_at", 0.0)),
        **archive_status(client, domain),
        "health": json.loads(stats.get("health", '{"state": "ok"}')),
    }


def collect(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """``{"tfd": {...}, "eta": {...}, "ecci": {...}}`` for every registered domain."""
    return {key: domain_status(client, key) for key in REGISTRY}
