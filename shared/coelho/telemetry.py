"""Prometheus metrics shared by all functions; names are the contract of the alert rules.

Request-side metrics live in the default registry of the serving process. The writer's live in
``WRITER``: a learn function runs its writer in a child process (coelho.state.sidecar), which
writes that registry to a file the serving process appends to its own ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Append -> applied: fine around the 250 ms freshness target the alert rules compare with.
FRESHNESS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.5,
                     1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip

EVENTS_RECEIVED = Counter(
    "coelho_events_received", "Learn requests carrying a valid event", ["domain"]
)
EVENTS_APPENDED = Counter("coelho_events_appended", "Events appended to the log", ["domain"])
EVENTS_DUPLICATE = Counter(
    "coelho_events_duplicate", "Redelivered events skipped by (source, id)", ["domain"]
)
EVENTS_REJECTED = Counter(
    "coelho_events_rejected", "Malformed events answered with a 4xx", ["domain", "reason"]
)
LEARN_SECONDS = Histogram(
    "coelho_learn_request_seconds", "Learn request handling time", ["domain"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
DEAD_LETTERS = Counter("coelho_dead_letters", "Events received by the dead-letter sink", ["domain"])

# A predict replica's live model (coelho.replica).
FRESHNESS = Histogram(
    "coelho_live_freshness_seconds", "Log append -> in the live model of this replica, per entry",
    ["domain"], buckets=FRESHNESS_BUCKETS,
)  # fmt: skip
LAG_EVENTS = Gauge(
    "coelho_live_lag_events", "Log entries read but not yet in the live model (NaN: unknown)",
    ["domain"],
)  # fmt: skip
LAG_SECONDS = Gauge(
    "coelho_live_lag_seconds", "Age of the oldest log entry not yet in the live model",
    ["domain"],
)  # fmt: skip
FOLLOWS_LOG = Gauge(
    "coelho_live_follows_log", "1 while the live model applies the log, 0 on checkpoint reloads",
    ["domain"],
)  # fmt: skip

WRITER = CollectorRegistry()
EVENTS_LEARNED = Counter(
    "coelho_events_learned", "Events applied to the model by this writer", ["domain"],
    registry=WRITER,
)  # fmt: skip
APPLY_ERRORS = Counter(
    "coelho_apply_errors", "Log entries the model raised on (skipped, dead-lettered)", ["domain"],
    registry=WRITER,
)  # fmt: skip
APPLY_LAG = Histogram(
    "coelho_writer_apply_lag_seconds", "Log append -> applied by the writer, per entry",
    ["domain"], buckets=FRESHNESS_BUCKETS, registry=WRITER,
)  # fmt: skip
LOG_LAG = Gauge(
    "coelho_log_lag_events", "Appended but not yet applied events", ["domain"], registry=WRITER
)
STATE_VERSION = Gauge(
    "coelho_state_version", "Latest checkpoint version", ["domain"], registry=WRITER
)
CHECKPOINT_BYTES = Gauge(
    "coelho_checkpoint_bytes", "Size of the latest checkpoint", ["domain"], registry=WRITER
)
PREQUENTIAL = Gauge(
    "coelho_prequential_metric", "Current prequential metric value", ["domain", "metric"],
    registry=WRITER,
)  # fmt: skip
IS_WRITER = Gauge(
    "coelho_is_writer", "1 while this process holds the writer lease", ["domain"],
    registry=WRITER,
)  # fmt: skip
MODEL_HEALTH = Gauge(
    "coelho_model_health", "1 for the live model's guard state (ok, degraded, diverged)",
    ["domain", "state"], registry=WRITER,
)  # fmt: skip
GUARD_VERDICTS = Counter(
    "coelho_guard_predictions", "Prequential predictions the guard found out of range",
    ["domain", "verdict"], registry=WRITER,
)  # fmt: skip


class _RedisMemory:
    """Redis's own ``INFO memory`` read at scrape time, for the memory alert.

    Redis runs with ``maxmemory`` and ``noeviction``: when full it refuses appends (learn
    answers 503 and the Broker retries) instead of being OOM-killed. No exporter is needed:
    the functions that write to Redis report what it says (the families are declared even
    while Redis is unreachable, without samples).
    """

    def __init__(self) -> None:
        self.source: Callable[[], Mapping[str, Any]] | None = None

    def collect(self) -> Iterator[Metric]:
        used = GaugeMetricFamily("coelho_redis_memory_used_bytes", "Redis used_memory")
        limit = GaugeMetricFamily(
            "coelho_redis_memory_max_bytes", "Redis maxmemory (0: no limit, it can be OOM-killed)"
        )
        try:
            info = self.source() if self.source is not None else None
        except Exception:  # noqa: BLE001 - a scrape must not fail because Redis does
            info = None
        if info is not None:
            used.add_metric([], float(info.get("used_memory", 0)))
            limit.add_metric([], float(info.get("maxmemory", 0)))
        yield used
        yield limit


REDIS_MEMORY = _RedisMemory()
REGISTRY.register(REDIS_MEMORY)  # type: ignore[arg-type]


def watch_redis_memory(info: Callable[[], Mapping[str, Any]]) -> None:
    """Report this Redis's memory on ``/metrics`` (``info``: e.g. ``client.info("memory")``)."""
    REDIS_MEMORY.source = info


def exposition(writer: bytes | None = None) -> tuple[bytes, int, dict[str, str]]:
    """A Flask-style response with the process's metrics in the text format.

    ``writer`` is the exposition of a writer running elsewhere (a child process); without it,
    the in-process ``WRITER`` registry is included (empty unless a writer thread runs here).
    """
    body = generate_latest() + (generate_latest(WRITER) if writer is None else writer)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST}
