"""Batch trainings in Prometheus, read from their Redis status at scrape time.

A training runs as a Job that lives minutes, so nothing scrapes it; its status and outcome
counters live in Redis (coelho.batch.status) and a long-running function exports them: the
snapshot function registers ``BatchCollector``. Families (label ``domain``):

- ``coelho_batch_training_active``: 1 while a training runs;
- ``coelho_batch_training_progress_ratio``: its progress, 0 to 1;
- ``coelho_batch_training_updated_timestamp_seconds``: its last progress report;
- ``coelho_batch_trainings_total`` (label ``outcome``: done, failed, stopped, refused): ended
  trainings, counted in Redis so they survive any restart of the exporter;
- ``coelho_batch_last_success_timestamp_seconds``: when the last training ended ``done``.

Reading the status also records a training whose job vanished (lock expired) as failed, so
``CoelhoBatchTrainingFailed`` sees an OOM-killed Job too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from coelho.batch.status import TrainingStatus
from coelho.domains import REGISTRY

log = logging.getLogger(__name__)
OUTCOMES = ("done", "failed", "stopped", "refused")


class BatchCollector:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def describe(self) -> list[Any]:
        return []  # collected on demand; no registry-time scrape

    def collect(self) -> Iterator[Any]:
        active = GaugeMetricFamily(
            "coelho_batch_training_active",
            "1 while a batch training of the domain runs",
            labels=["domain"],
        )
        progress = GaugeMetricFamily(
            "coelho_batch_training_progress_ratio",
            "Progress of the running batch training",
            labels=["domain"],
        )
        updated = GaugeMetricFamily("coelho_batch_training_updated_timestamp_seconds",
                                    "Last progress report of the domain's batch training",
                                    labels=["domain"])  # fmt: skip
        success = GaugeMetricFamily("coelho_batch_last_success_timestamp_seconds",
                                    "When a batch training of the domain last ended done",
                                    labels=["domain"])  # fmt: skip
        ended = CounterMetricFamily("coelho_batch_trainings", "Batch trainings by outcome",
                                    labels=["domain", "outcome"])  # fmt: skip
        for key, domain in REGISTRY.items():
            if domain.batch is None:
                continue
            try:
                status = TrainingStatus(self.client, key)
                current, counts = status.read(), status.outcomes()
            except redis.RedisError as exc:
                log.warning("batch status of %s unavailable: %s", key, exc)
                continue
            running = current.get("state") == "running"
            active.add_metric([key], 1.0 if running else 0.0)
            progress.add_metric(
                [key], float(current.get("percent") or 0.0) / 100 if running else 0.0
            )
            updated.add_metric([key], float(current.get("updated_at") or 0.0))
            if current.get("state") == "done":
                success.add_metric([key], float(current.get("finished_at") or 0.0))
            for outcome in OUTCOMES:
                ended.add_metric([key, outcome], float(counts.get(outcome, 0)))
        yield from (active, progress, updated, success, ended)
