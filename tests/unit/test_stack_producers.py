"""``coelho up``'s Prometheus scrapes the producers it started (what serves /metrics) and the
MinIO it started (its own metrics path), and no component without an address."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from coelho.stack import supervisor as supervisor_module
from coelho.stack.config import StackConfig
from coelho.stack.supervisor import Supervisor
from coelho.stack.watch import Component

REPO = Path(__file__).resolve().parents[2]


class FakePrometheus:
    """Records the targets the supervisor hands to Prometheus instead of starting it."""

    targets: dict[str, str] = {}

    def __init__(self, data_dir: Path, **_: Any) -> None:
        self.url, self.child = "http://127.0.0.1:9", None

    def start(self, targets: dict[str, str], knative_dir: Path) -> FakePrometheus:
        FakePrometheus.targets = dict(targets)
        return self


def test_prometheus_targets_include_the_producers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_module, "PrometheusServer", FakePrometheus)
    stack = Supervisor(StackConfig(repo=REPO, home=tmp_path), out=io.StringIO())
    stack.components += [
        Component("kafka", "127.0.0.1:9092"),
        Component("learn-tfd", "http://127.0.0.1:8081"),
        Component("producer-tfd", "http://127.0.0.1:40001", finished_ok=True),
        Component("producer-eta", "", finished_ok=True),  # no metrics port: nothing to scrape
    ]
    stack.s3_metrics = "127.0.0.1:9000/minio/v2/metrics/cluster"
    stack._start_prometheus()  # noqa: SLF001 - the step under test
    assert FakePrometheus.targets == {
        "learn-tfd": "127.0.0.1:8081",
        "producer-tfd": "127.0.0.1:40001",
        "minio": "127.0.0.1:9000/minio/v2/metrics/cluster",
    }


def test_a_target_may_name_its_metrics_path() -> None:
    from coelho.stack.prometheus import scrape_config

    jobs = {
        job["job_name"]: job
        for job in scrape_config(
            {"learn-tfd": "127.0.0.1:8081", "minio": "127.0.0.1:9000/minio/v2/metrics/cluster"},
            [],
        )["scrape_configs"]
    }
    assert jobs["learn-tfd"]["metrics_path"] == "/metrics"
    assert jobs["minio"]["metrics_path"] == "/minio/v2/metrics/cluster"
    assert jobs["minio"]["static_configs"][0]["targets"] == ["127.0.0.1:9000"]
