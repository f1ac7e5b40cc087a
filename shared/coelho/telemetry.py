"""Prometheus metrics shared by all functions; names are the contract of the alert rules.

Request-side metrics live in the default registry of the serving process. The writer's live in
``WRITER``: a learn function runs its writer in a child process (coelho.state.sidecar), which
writes that registry to a file the serving process appends to its own ``/metrics``.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

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

WRITER = CollectorRegistry()
EVENTS_LEARNED = Counter(
    "coelho_events_learned", "Events applied to the model by this writer", ["domain"],
    registry=WRITER,
)  # fmt: skip
APPLY_ERRORS = Counter(
    "coelho_apply_errors", "Log entries the model raised on (skipped, dead-lettered)", ["domain"],
    registry=WRITER,
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


def exposition(writer: bytes | None = None) -> tuple[bytes, int, dict[str, str]]:
    """A Flask-style response with the process's metrics in the text format.

    ``writer`` is the exposition of a writer running elsewhere (a child process); without it,
    the in-process ``WRITER`` registry is included (empty unless a writer thread runs here).
    """
    body = generate_latest() + (generate_latest(WRITER) if writer is None else writer)
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST}
