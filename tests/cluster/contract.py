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
    "coelho_model_health": frozenset({"domain", "state"}),
    "coelho_guard_predictions_total": frozenset({"domain", "verdict"}),
    "coelho_dead_letters_total": frozenset({"domain"}),
    "coelho_predict_requests_total": frozenset({"domain", "source", "code"}),
    "coelho_predict_latency_seconds_bucket": frozenset({"domain", "source", "le"}),
    "coelho_model_version_served": frozenset({"domain", "source"}),
    "coelho_model_reloads_total": frozenset({"domain"}),
    "coelho_live_freshness_seconds_bucket": frozenset({"domain", "le"}),
    "coelho_live_lag_events": frozenset({"domain"}),
    "coelho_live_lag_seconds": frozenset({"domain"}),
    "coelho_live_follows_log": frozenset({"domain"}),
    "coelho_writer_apply_lag_seconds_bucket": frozenset({"domain", "le"}),
    "coelho_predict_fallbacks_total": frozenset({"domain", "state"}),
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
    "coelho_redis_memory_used_bytes": frozenset(),
    "coelho_redis_memory_max_bytes": frozenset(),
    # The producers (coelho.producer_metrics); the gauges per domain come from its module.
    "coelho_producer_messages_sent_total": frozenset({"domain", "topic"}),
    "coelho_producer_errors_total": frozenset({"domain", "topic", "error_type"}),
    "coelho_producer_send_seconds_bucket": frozenset({"domain", "topic", "le"}),
    "coelho_producer_message_bytes_sum": frozenset({"domain", "topic"}),
    "coelho_producer_message_bytes_count": frozenset({"domain", "topic"}),
    "coelho_producer_connected": frozenset({"domain"}),
    "coelho_producer_connection_retries_total": frozenset({"domain"}),
    "coelho_producer_last_sent_timestamp_seconds": frozenset({"domain"}),
    "coelho_producer_target_rate": frozenset({"domain"}),
    "coelho_producer_fraud_ratio": frozenset({"domain"}),
    "coelho_producer_active_sessions": frozenset({"domain"}),
}
# Metrics of the platform's exporters (k3d/manifests; PodMonitors in
# knative/monitoring/podmonitor-platform.yaml), as their projects name them: Strimzi's Kafka
# Exporter (danielqsj/kafka_exporter), oliver006/redis_exporter, MinIO's v2 cluster metrics.
EXPORTER_METRICS: frozenset[str] = frozenset({
    "kafka_consumergroup_lag", "kafka_consumergroup_current_offset",
    "kafka_topic_partition_current_offset", "kafka_topic_partitions", "kafka_brokers",
    "redis_up", "redis_memory_used_bytes", "redis_memory_max_bytes", "redis_connected_clients",
    "redis_commands_processed_total", "redis_keyspace_hits_total", "redis_keyspace_misses_total",
    "redis_db_keys", "redis_rejected_connections_total", "redis_uptime_in_seconds",
    "minio_cluster_capacity_usable_total_bytes", "minio_cluster_capacity_usable_free_bytes",
    "minio_bucket_usage_total_bytes", "minio_bucket_usage_object_total",
    "minio_s3_requests_total", "minio_s3_requests_errors_total",
    "minio_s3_traffic_received_bytes", "minio_s3_traffic_sent_bytes",
})  # fmt: skip
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
        "coelho_redis_memory_used_bytes",
        "coelho_redis_memory_max_bytes",
        "coelho_writer_apply_lag_seconds",
    },
    "dead-letters": {
        "coelho_dead_letters",
        "coelho_redis_memory_used_bytes",
        "coelho_redis_memory_max_bytes",
        "coelho_model_health",
        "coelho_guard_predictions",
    },
    "predict": {
        "coelho_predict_requests",
        "coelho_predict_latency_seconds",
        "coelho_model_version_served",
        "coelho_model_reloads",
        "coelho_live_freshness_seconds",
        "coelho_live_lag_events",
        "coelho_live_lag_seconds",
        "coelho_live_follows_log",
        "coelho_predict_fallbacks",
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
    """Metric names a PromQL expression reads (``coelho_*``, the exporters' and ``up``)."""
    pattern = r"\b((?:coelho|kafka|redis|minio)_[a-z_]+|up)\b(?=\s*[{\[)\s]|$)"
    return set(re.findall(pattern, expr))
