"""The Prometheus metric contract between the functions and the alerts/dashboards.

Names and labels as agreed in issue #5 (also listed in k3d/README.md). Rules and dashboards
may only use these (plus ``up``); each function kind must expose its families on /metrics.
"""

from __future__ import annotations

import re

# metric name -> labels the functions attach (besides target labels such as instance).
METRICS: dict[str, frozenset[str]] = {
    "coelho_events_received_total": frozenset({"domain"}),
    "coelho_events_appended_total": frozenset({"domain"}),
    "coelho_events_duplicate_total": frozenset({"domain"}),
    "coelho_events_rejected_total": frozenset({"domain", "reason"}),
    "coelho_events_learned_total": frozenset({"domain"}),
    "coelho_learn_request_seconds_bucket": frozenset({"domain", "le"}),
    "coelho_log_lag_events": frozenset({"domain"}),
    "coelho_state_version": frozenset({"domain"}),
    "coelho_checkpoint_bytes": frozenset({"domain"}),
    "coelho_prequential_metric": frozenset({"domain", "metric"}),
    "coelho_is_writer": frozenset({"domain"}),
    "coelho_dead_letters_total": frozenset({"domain"}),
    "coelho_predict_requests_total": frozenset({"domain", "source", "code"}),
    "coelho_predict_latency_seconds_bucket": frozenset({"domain", "source", "le"}),
    "coelho_model_version_served": frozenset({"domain", "source"}),
    "coelho_model_reloads_total": frozenset({"domain"}),
    "coelho_snapshots_total": frozenset({"domain", "outcome"}),
    "coelho_snapshot_last_success_timestamp_seconds": frozenset({"domain"}),
    "coelho_batch_trainings_total": frozenset({"domain", "outcome"}),
    "coelho_batch_training_active": frozenset({"domain"}),
    "coelho_batch_training_progress_ratio": frozenset({"domain"}),
    "coelho_batch_training_updated_timestamp_seconds": frozenset({"domain"}),
    "coelho_batch_last_success_timestamp_seconds": frozenset({"domain"}),
    "coelho_archive_runs_total": frozenset({"domain", "outcome"}),
    "coelho_archived_events_total": frozenset({"domain"}),
    "coelho_archive_lag_events": frozenset({"domain"}),
    "coelho_archive_lag_seconds": frozenset({"domain"}),
    "coelho_archive_table_rows": frozenset({"domain"}),
    "coelho_archive_last_success_timestamp_seconds": frozenset({"domain"}),
    "coelho_dead_letters_archived_total": frozenset(),
    "coelho_sql_queries_total": frozenset({"table", "outcome"}),
    "coelho_sql_query_seconds_bucket": frozenset({"table", "le"}),
}
STANDARD = {"up"}
# Labels every scrape target carries (podmonitor.yaml relabelings; the local scrape config).
TARGET_LABELS = frozenset({"service", "instance", "job", "namespace", "component", "revision"})

# Families (as in "# TYPE <family>" lines, counters without _total) each function exposes.
FAMILIES_BY_KIND: dict[str, set[str]] = {
    "learn": {
        "coelho_events_received",
        "coelho_events_appended",
        "coelho_events_duplicate",
        "coelho_events_rejected",
        "coelho_events_learned",
        "coelho_learn_request_seconds",
        "coelho_log_lag_events",
        "coelho_state_version",
        "coelho_checkpoint_bytes",
        "coelho_prequential_metric",
        "coelho_is_writer",
    },
    "dead-letters": {"coelho_dead_letters"},
    "predict": {
        "coelho_predict_requests",
        "coelho_predict_latency_seconds",
        "coelho_model_version_served",
        "coelho_model_reloads",
    },
    # The snapshot function also exports the batch trainings' status (coelho.batch.telemetry):
    # a training is a Job that lives minutes, nothing scrapes it.
    "snapshot": {
        "coelho_snapshots",
        "coelho_snapshot_last_success_timestamp_seconds",
        "coelho_batch_trainings",
        "coelho_batch_training_active",
        "coelho_batch_training_progress_ratio",
        "coelho_batch_training_updated_timestamp_seconds",
        "coelho_batch_last_success_timestamp_seconds",
    },
    "archive": {
        "coelho_archive_runs",
        "coelho_archived_events",
        "coelho_archive_lag_events",
        "coelho_archive_lag_seconds",
        "coelho_archive_table_rows",
        "coelho_archive_last_success_timestamp_seconds",
        "coelho_dead_letters_archived",
    },
    "query": {"coelho_sql_queries", "coelho_sql_query_seconds"},
}


def kind_of(function: str) -> str:
    """``learn-tfd`` -> ``learn``; ``dead-letters``, ``snapshot``, ``archive`` and ``query`` are
    their own kind."""
    return function.split("-", 1)[0] if function.startswith(("learn-", "predict-")) else function


def families(metrics_text: str) -> set[str]:
    """Family names declared by ``# TYPE`` lines, with a counter's ``_total`` removed."""
    found = set()
    for line in metrics_text.splitlines():
        if line.startswith("# TYPE "):
            name = line.split()[2]
            found.add(name.removesuffix("_total"))
    return found


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (``coelho_*`` and ``up``)."""
    return set(re.findall(r"\b(coelho_[a-z_]+|up)\b(?=\s*[{\[)\s]|$)", expr))
