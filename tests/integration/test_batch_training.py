"""Batch training against real Redis, MinIO and MLflow: seeded events -> archive -> train.

Per domain, seeded generator events go through the real archive (Redis log -> Delta table on
MinIO), then one training each (``coelho.batch.job.run``, the Job's own code) must register a
``<domain>-batch`` version that beats the issue's bars on the newest 20 % (TFD ROC AUC >= 0.85,
ETA R² >= 0.7, ECCI best K in 2-10) and store the River-vs-batch comparison in the run and the
status. The predict function's ``?model=batch`` must answer as ``mlflow.pyfunc.load_model`` does
on the same rows. Refusals (no table, empty table, too few rows, no positive class, unknown
domain, a second training) end with a clear message, and a stop at the last point before
registration leaves a KILLED run and no version.

Sizes are kept small (a few thousand rows); ``make bench`` measures 100k.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from coelho.batch import job
from coelho.batch.request import EVENT_TYPE, TrainRequest
from coelho.batch.status import TrainingStatus, request_state
from coelho.domains import get
from coelho.errors import UnknownDomain
from coelho.lakehouse.archive import DomainArchive
from coelho.lakehouse.storage import Storage
from coelho.settings import BatchSettings, LakehouseSettings
from coelho.state import EventLog
from tests.conftest import TEST_STATE_KEY
from tests.lakehouse import fresh_buckets

ROWS = {"tfd": 5000, "eta": 2500, "ecci": 2500}
BARS = {"tfd": ("roc_auc", 0.85), "eta": ("r2", 0.7)}
SETTINGS = BatchSettings(broker_url="http://127.0.0.1:9/unused", event_file=Path("/nonexistent"),
                         threads=1)  # fmt: skip


@contextmanager
def environ(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def archive(client: redis.Redis, storage: Storage, key: str, events: list[dict[str, Any]]) -> None:
    """Append validated events to the domain's log and archive them into its Delta table."""
    domain, log = get(key), EventLog(client, key, 3600)
    for i, event in enumerate(events):
        log.append("batch-test", f"b-{i}", domain.validate(event), (domain.topic, 0, i))
    report = DomainArchive(domain, client, storage).run(120, 5000)
    assert report.archived == len(events) and report.drained, report


def seeded(key: str, n: int, seed: int = 21) -> list[dict[str, Any]]:
    events = get(key).produce(seed=seed)
    return [next(events) for _ in range(n)]


class Lake:
    """A Redis database of its own and fresh buckets: one lakehouse for a group of tests."""

    def __init__(self, s3_server: Any, redis_url: str, db: int) -> None:
        self.url = f"{redis_url.rstrip('/').rsplit('/', 1)[0]}/{db}"
        self.client = redis.Redis.from_url(self.url)
        self.client.flushdb()
        self.env = {**fresh_buckets(s3_server), "COELHO_STATE_KEY": TEST_STATE_KEY,
                    "COELHO_REDIS_URL": self.url}  # fmt: skip
        with environ(self.env):
            self.storage = Storage(LakehouseSettings.from_env())

    def train(self, key: str, uri: str, stopping: threading.Event | None = None,
              **size: Any) -> tuple[str, TrainRequest]:  # fmt: skip
        request = TrainRequest.new(key, source="coelho.test", **size)
        with environ(self.env):
            outcome = job.run(request, self.client, self.storage, settings=SETTINGS,
                              stopping=stopping, uri=uri)  # fmt: skip
        return outcome, request


def drop_batch_models(uri: str) -> Any:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for key in ROWS:
        try:
            client.delete_registered_model(f"{key}-batch")
        except MlflowException:
            pass
    return client


@pytest.fixture(scope="module")
def trained(s3_server: Any, redis_url: str, mlflow_server: str) -> dict[str, Any]:
    """Each domain archived and trained once: {domain: (outcome, status, request, seconds)}."""
    mlflow = drop_batch_models(mlflow_server)
    lake = Lake(s3_server, redis_url, 3)
    found: dict[str, Any] = {"lake": lake, "mlflow": mlflow}
    for key, n in ROWS.items():
        archive(lake.client, lake.storage, key, seeded(key, n))
        started = time.perf_counter()
        outcome, request = lake.train(key, mlflow_server)
        status = TrainingStatus(lake.client, key).read()
        found[key] = (outcome, status, request, time.perf_counter() - started)
    return found


@pytest.mark.parametrize("key", list(ROWS))
def test_training_registers_a_model_that_beats_the_bars(key: str, trained: dict[str, Any]) -> None:
    from mlflow import artifacts

    outcome, status, request, seconds = trained[key]
    assert outcome == "done", status.get("message")
    assert request_state(trained["lake"].client, request.request_id)["state"] == "done"
    assert status["state"] == "done" and status["percent"] == 100.0
    assert status["rows"] == ROWS[key] and status["train_rows"] == round(ROWS[key] * 0.8)
    mlflow = trained["mlflow"]
    version = mlflow.get_model_version(f"{key}-batch", str(status["version"]))
    assert version.run_id == status["run_id"]
    assert mlflow.get_model_version_by_alias(f"{key}-batch", "champion").version == version.version
    run = mlflow.get_run(status["run_id"])
    assert run.info.status == "FINISHED"
    metrics = run.data.metrics
    spec = get(key).batch
    assert spec is not None and set(spec.metrics) <= set(metrics)
    assert run.data.params["rows"] == str(ROWS[key])
    assert any(name.startswith("model.") for name in run.data.params)
    if key in BARS:
        name, bar = BARS[key]
        assert metrics[name] >= bar, (name, metrics[name])
        # The trivial baseline is in the same run, and the model beats it.
        assert metrics[name] > metrics[f"baseline_{name}"]
    else:
        k_log = status["k_log"]
        assert [int(e["k"]) for e in k_log] == list(range(2, 11))
        best = max(k_log, key=lambda e: (e["silhouette"], -e["k"]))
        assert 2 <= metrics["n_clusters"] <= 10 and metrics["n_clusters"] == best["k"]
    # River vs batch: both scored on the same holdout, in the status and in the run.
    comparison = status["comparison"]
    assert comparison["holdout_rows"] == ROWS[key] - status["train_rows"]
    assert set(comparison["batch"]) == set(spec.metrics)
    # River has every metric but inertia, which only the batch model's K-means defines.
    assert set(spec.metrics) - set(comparison["river"]) <= {"inertia"}
    assert comparison["river_model"] and comparison["river_prequential"]
    stored = json.loads(artifacts.load_text(f"runs:/{run.info.run_id}/comparison.json"))
    assert stored == comparison
    assert metrics[f"river_{spec.headline}"] == pytest.approx(comparison["river"][spec.headline])
    batch, river = comparison["batch"][spec.headline], comparison["river"][spec.headline]
    print(f"{key}: {ROWS[key]} rows trained in {seconds:.1f} s; {spec.headline} {batch:.4f} "
          f"(batch) vs {river:.4f} (River)")  # fmt: skip


def test_batch_predictions_agree_with_the_pyfunc_model(
    trained: dict[str, Any], spawn_function: Any, mlflow_server: str
) -> None:
    """``?model=batch`` and ``batch:N`` answer as mlflow.pyfunc.load_model on the same rows."""
    import mlflow.pyfunc

    from coelho.batch.frame import from_events

    lake = trained["lake"]
    env = {"MLFLOW_TRACKING_URI": mlflow_server, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true"}
    with environ(env):
        for key in ROWS:
            status = trained[key][1]
            base = spawn_function(f"predict-{key}", {**lake.env, **env})
            domain = get(key)
            events = [domain.validate_request(e) for e in seeded(key, 8, seed=404)]
            pyfunc = mlflow.pyfunc.load_model(f"models:/{key}-batch/{status['version']}")
            expected = pyfunc.predict(from_events(domain, events))
            for selector in ("batch", f"batch:{status['version']}"):
                for event, want in zip(events, expected, strict=True):
                    got = requests.post(f"{base}/?model={selector}", json=event, timeout=60)
                    assert got.status_code == 200, got.text
                    body = got.json()
                    assert body["model"]["source"] == "batch"
                    assert body["model"]["version"] == status["version"]
                    if domain.task == "binary":
                        assert body["fraud_probability"] == pytest.approx(float(want[1]), abs=1e-9)
                    elif domain.task == "regression":
                        assert body["eta_seconds"] == pytest.approx(max(0.0, float(want)), 1e-9)
                    else:
                        assert body["cluster"] == int(want)
            missing = requests.post(f"{base}/?model=batch:999", json=events[0], timeout=60)
            assert missing.status_code == 404, missing.text


def test_refusals_say_what_is_missing(s3_server: Any, redis_url: str, mlflow_server: str) -> None:
    """No table, an empty table, too few rows, no positive class, an unknown domain."""
    lake = Lake(s3_server, redis_url, 4)
    outcome, request = lake.train("eta", mlflow_server)
    assert outcome == "failed"
    message = request_state(lake.client, request.request_id)["message"]
    assert "holds no data yet" in message and get("eta").table in message
    DomainArchive(get("eta"), lake.client, lake.storage).table()  # created, empty
    outcome, request = lake.train("eta", mlflow_server)
    assert outcome == "failed"
    assert "is empty" in request_state(lake.client, request.request_id)["message"]
    archive(lake.client, lake.storage, "eta", seeded("eta", 50))
    outcome, request = lake.train("eta", mlflow_server)
    assert outcome == "failed"
    message = request_state(lake.client, request.request_id)["message"]
    assert "only 50 rows" in message and "at least" in message
    honest = [{**event, "is_fraud": 0} for event in seeded("tfd", 400)]
    archive(lake.client, lake.storage, "tfd", honest)
    outcome, request = lake.train("tfd", mlflow_server)
    assert outcome == "failed"
    message = request_state(lake.client, request.request_id)["message"]
    assert "no positive class" in message and "is_fraud" in message
    assert TrainingStatus(lake.client, "tfd").outcomes() == {"failed": 1}
    with pytest.raises(UnknownDomain, match="nope"):
        TrainRequest.new("nope")


def test_the_job_entrypoint_records_an_unknown_domain(
    s3_server: Any, redis_url: str, tmp_path: Path
) -> None:
    """A request event naming an unknown domain: exit 1 and the request recorded failed."""
    lake = Lake(s3_server, redis_url, 5)
    event_id = str(uuid.uuid4())
    event = {"specversion": "1.0", "type": EVENT_TYPE, "source": "coelho.test", "id": event_id,
             "domain": "nope", "datacontenttype": "application/json",
             "data": {"domain": "nope"}}  # fmt: skip
    (tmp_path / "event").write_text(json.dumps(event))
    with environ(lake.env):
        assert job.main([str(tmp_path / "event")]) == 1
    state = request_state(lake.client, event_id)
    assert state["state"] == "failed" and "nope" in state["message"], state


class PauseBeforeRegistering(threading.Event):
    """The trainer's stop flag that holds the training at its last stop point (the model
    logged, not registered) until the user's stop arrives through Redis and the heartbeat."""

    def __init__(self, status: TrainingStatus) -> None:
        super().__init__()
        self.status = status
        self.logging_checks = 0
        self.paused = threading.Event()

    def is_set(self) -> bool:
        if not self.paused.is_set() and self.status.read().get("stage") == "logging":
            self.logging_checks += 1
            if self.logging_checks == 3:  # step("logging"), before log_model, after it
                self.paused.set()
                self.wait(60)
        return super().is_set()


def test_a_second_training_is_refused_and_stop_registers_nothing(
    trained: dict[str, Any], mlflow_server: str
) -> None:
    lake, mlflow = trained["lake"], trained["mlflow"]
    key = "eta"
    before = {v.version for v in mlflow.search_model_versions(f"name='{key}-batch'")}
    status = TrainingStatus(lake.client, key)
    counts = status.outcomes()
    pause = PauseBeforeRegistering(status)
    first: dict[str, Any] = {}

    def train() -> None:
        first["outcome"], first["request"] = lake.train(key, mlflow_server, stopping=pause)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    assert pause.paused.wait(180), "the training never reached its last stop point"
    running = status.read()
    assert running["state"] == "running" and running["stage"] == "logging"
    outcome, second = lake.train(key, mlflow_server)
    assert outcome == "refused"
    message = request_state(lake.client, second.request_id)["message"]
    assert "already running" in message and running["request_id"] in message
    assert status.request_stop() == running["request_id"]  # what Stop and --stop do
    thread.join(60)
    assert first["outcome"] == "stopped"
    ended = status.read()
    assert ended["state"] == "stopped" and "nothing was registered" in ended["message"]
    after = {v.version for v in mlflow.search_model_versions(f"name='{key}-batch'")}
    assert after == before
    runs = mlflow.search_runs(
        [mlflow.get_experiment_by_name(f"{get(key).title} (batch)").experiment_id],
        filter_string=f"tags.`coelho.request_id` = '{running['request_id']}'",
    )
    (run,) = runs
    assert run.info.status == "KILLED"
    assert mlflow.list_artifacts(run.info.run_id, "model"), "the model was logged, not registered"
    now = status.outcomes()
    assert now.get("stopped", 0) == counts.get("stopped", 0) + 1
    assert now.get("refused", 0) == counts.get("refused", 0) + 1


def test_metrics_export_the_training_outcomes(trained: dict[str, Any]) -> None:
    """What the snapshot function's /metrics shows of the trainings (coelho.batch.telemetry)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from coelho.batch.telemetry import BatchCollector

    lake = trained["lake"]
    registry = CollectorRegistry()
    registry.register(BatchCollector(lake.client))
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(generate_latest(registry).decode())
               for s in family.samples}  # fmt: skip
    for key in ROWS:
        counts = TrainingStatus(lake.client, key).outcomes()
        assert counts.get("done", 0) >= 1
        for outcome in ("done", "failed", "stopped", "refused"):
            labels = (("domain", key), ("outcome", outcome))
            assert samples[("coelho_batch_trainings_total", labels)] == counts.get(outcome, 0)
        assert samples[("coelho_batch_training_active", (("domain", key),))] == 0.0
        finished = TrainingStatus(lake.client, key).read()["finished_at"]
        if TrainingStatus(lake.client, key).read()["state"] == "done":
            stamp = samples[("coelho_batch_last_success_timestamp_seconds", (("domain", key),))]
            assert stamp == pytest.approx(finished)
