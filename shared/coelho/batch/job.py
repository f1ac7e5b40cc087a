"""One training, end to end: what the JobSink's Job (locally: the emulator's subprocess) runs.

``python functions/train/main.py`` reads the CloudEvent file (``COELHO_JOBSINK_EVENT``,
default ``/etc/jobsink-event/event``, where Knative mounts it) and calls ``run``:

1. take the domain (``TrainingStatus.take``): a second training of a running domain is
   refused with the running one's request id, stage and start time, and counted ``refused``;
   a request id that already ended (a redelivery) is not trained again;
2. stages, each reported with its percent: ``loading_data`` (the Delta table, time order,
   split) -> ``training`` or ``k_search`` -> ``evaluating`` (holdout metrics, River replay and
   baseline on the same holdout, diagnostics) -> ``logging`` (the MLflow run, then the
   registered version) -> ``done``;
3. a heartbeat thread renews the domain's lock and watches for a stop request; SIGTERM (Job
   deleted, deadline reached, emulator stopping) counts as one. A stop is honoured at the next
   step boundary, at the latest just before the version is registered, and ends ``stopped``
   with no version; any error ends ``failed`` with its message.

Exit status: 0 when the request was handled (done, stopped, refused), 1 when it failed.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import redis

from coelho.batch import compare, data, diagnostics, registry, train
from coelho.batch.request import TrainRequest
from coelho.batch.status import LOCK_MS, TERMINAL, Stopped, TrainingStatus, record, request_state
from coelho.domains import get
from coelho.errors import CoelhoError
from coelho.lakehouse.storage import Storage
from coelho.settings import BatchSettings, Settings

log = logging.getLogger("coelho.batch")
# Percent range of each stage in the progress bar.
STAGES = {"loading_data": (0.0, 10.0), "training": (10.0, 60.0), "k_search": (10.0, 60.0),
          "evaluating": (60.0, 88.0), "logging": (88.0, 100.0)}  # fmt: skip


class Reporter:
    """Writes progress and raises ``Stopped`` between steps once a stop was asked for."""

    def __init__(self, status: TrainingStatus, request_id: str, stopping: threading.Event):
        self.status = status
        self.request_id = request_id
        self.stopping = stopping
        self.stage_name = "loading_data"
        self.started = time.monotonic()

    def check(self) -> None:
        if self.stopping.is_set():
            raise Stopped(f"stopped at {self.stage_name}")

    def step(self, stage: str, fraction: float, message: str, **fields: Any) -> None:
        if stage != self.stage_name or fraction >= 1.0:
            log.info("%s %.0f%% (%.1f s): %s", stage, fraction * 100,
                     time.monotonic() - self.started, message)  # fmt: skip
        self.stage_name = stage
        low, high = STAGES[stage]
        percent = round(low + (high - low) * min(1.0, max(0.0, fraction)), 1)
        self.status.update(stage=stage, percent=percent, message=message, **fields)
        self.check()


class Heartbeat(threading.Thread):
    """Renews the domain's lock and turns a stop request into ``stopping``."""

    def __init__(self, status: TrainingStatus, request_id: str, stopping: threading.Event):
        super().__init__(name="batch-heartbeat", daemon=True)
        self.status, self.request_id, self.stopping = status, request_id, stopping
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                if self.status.stop_requested(self.request_id):
                    self.stopping.set()
                if time.monotonic() >= getattr(self, "_next", 0.0):
                    self._next = time.monotonic() + LOCK_MS / 6000
                    if not self.status.renew(self.request_id):
                        log.error("lost the lock of %s: stopping", self.status.domain)
                        self.stopping.set()
            except redis.RedisError as exc:
                log.warning("heartbeat: %s", exc)


def run(request: TrainRequest, client: redis.Redis, storage: Storage, *,
        settings: BatchSettings | None = None, stopping: threading.Event | None = None,
        uri: str | None = None) -> str:  # fmt: skip
    """Train for ``request``; the outcome (done, stopped, refused, failed, duplicate)."""
    settings = settings or BatchSettings.from_env()
    stopping = stopping or threading.Event()
    domain = get(request.domain)
    previous = request_state(client, request.request_id).get("state")
    if previous in TERMINAL:
        log.info("request %s already %s: not training again", request.request_id, previous)
        return "duplicate"
    status = TrainingStatus(client, domain.key)
    params = {"max_rows": request.max_rows, "sample_frac": request.sample_frac}
    holder = status.take(request.request_id, {"source": request.source, "params": params})
    if holder is not None:
        current = status.read()
        message = (f"refused: a training of {domain.key} is already running (request {holder}, "
                   f"stage {current.get('stage', '?')} at {current.get('percent', 0):.0f} %); "
                   "wait for it to end or stop it")  # fmt: skip
        status.count("refused")
        record(client, request.request_id, domain.key, "refused", message)
        log.warning("%s", message)
        return "refused"
    record(client, request.request_id, domain.key, "running", f"training on {request.describe()}")
    reporter = Reporter(status, request.request_id, stopping)
    heartbeat = Heartbeat(status, request.request_id, stopping)
    heartbeat.start()
    try:
        outcome, message, fields = _train(domain, request, storage, reporter, settings, uri)
    except Stopped:
        outcome, fields = "stopped", {}
        message = f"stopped at {reporter.stage_name}: nothing was registered"
    except CoelhoError as exc:
        outcome, message, fields = "failed", str(exc), {}
    except Exception as exc:  # a bug or an unreachable server: say it, keep the trace in the log
        log.error("training %s failed:\n%s", request.request_id, traceback.format_exc())
        outcome, message, fields = "failed", f"{type(exc).__name__}: {exc}", {}
    finally:
        heartbeat.done.set()
    status.finish(request.request_id, outcome, message, **fields)
    record(client, request.request_id, domain.key, outcome, message)
    log.info("training %s of %s: %s: %s", request.request_id, domain.key, outcome, message)
    return outcome


def _train(
    domain: Any,
    request: TrainRequest,
    storage: Storage,
    reporter: Reporter,
    settings: BatchSettings,
    uri: str | None,
) -> tuple[str, str, dict[str, Any]]:
    # threadpoolctl limits the OpenMP runtimes loaded when it is entered: load scikit-learn's now.
    import sklearn.utils._openmp_helpers  # noqa: F401
    from threadpoolctl import threadpool_limits

    spec = domain.batch
    assert spec is not None
    started = time.perf_counter()
    dataset = data.load(
        domain, storage, request.max_rows, request.sample_frac,
        lambda done, total: reporter.step("loading_data", done / total,
                                          f"reading {domain.table}: {done:,}/{total:,} rows"),
    )  # fmt: skip
    holdout_rows = dataset.rows - dataset.cut
    reporter.step("loading_data", 1.0, f"{dataset.rows:,} rows ({request.describe()}): the "
                  f"older {dataset.cut:,} train, the newest {holdout_rows:,} are the holdout",
                  rows=dataset.rows, train_rows=dataset.cut, holdout_rows=holdout_rows)  # fmt: skip
    load_seconds = time.perf_counter() - started
    x, y = dataset.x, dataset.y
    stage = "k_search" if domain.task == "clustering" else "training"
    with threadpool_limits(limits=settings.threads):
        fitted = train.fit(
            domain, x.iloc[: dataset.cut], None if y is None else y[: dataset.cut],
            lambda f, message: reporter.step(stage, f, message),
            on_k=lambda entries: reporter.status.update(k_log=entries),
        )  # fmt: skip
        reporter.step("evaluating", 0.0, "scoring the holdout")
        evaluation = _evaluate(domain, dataset, fitted, reporter)
    metrics, comparison, predictions, found = evaluation
    reporter.step("logging", 0.0, "logging the run to MLflow", metrics=metrics,
                  comparison=comparison)  # fmt: skip
    params = {
        "rows": dataset.rows, "train_rows": dataset.cut, "holdout_rows": holdout_rows,
        "table": domain.table, "table_version": dataset.table_version,
        "table_rows": dataset.table_rows, "max_rows": request.max_rows,
        "sample_frac": request.sample_frac, "split": "time: older 80 % / newest 20 %",
        "features": ",".join(x.columns), "encoding": spec.encoding, "scale": spec.scale,
        **{f"model.{k}": v for k, v in fitted.model.get_params().items()},
    }  # fmt: skip
    if domain.task == "clustering":
        params["k_range"] = f"{spec.k_range[0]}-{spec.k_range[1]}"
    logged_metrics = {
        **metrics,
        "train_seconds": fitted.seconds,
        "load_seconds": load_seconds,
        **{f"river_{k}": v for k, v in comparison["river"].items()},
        **{f"baseline_{k}": v for k, v in comparison["baseline"].items()},
    }
    tags = {"coelho.request_id": request.request_id, "coelho.source": request.source,
            "coelho.estimator": type(fitted.model).__name__,
            "coelho.headline": spec.headline}  # fmt: skip
    logged = registry.log_training(
        domain, run_name=f"{domain.key}-batch-{type(fitted.model).__name__}",
        tags=tags, params=params, metrics=logged_metrics, k_log=fitted.k_log,
        artifacts={"diagnostics.json": found, "comparison.json": comparison},
        predictions=predictions, pipeline=fitted.pipeline, example=x.iloc[dataset.cut :].head(5),
        check=reporter.check, key=Settings.from_env().state_key, uri=uri,
    )  # fmt: skip
    headline = metrics.get(spec.headline)
    shown = "n/a" if headline is None else f"{headline:.4f}"
    message = (f"registered {registry.registered_name(domain.key)} version {logged.version}: "
               f"{spec.headline} {shown} on {holdout_rows:,} holdout rows")  # fmt: skip
    return "done", message, {"run_id": logged.run_id, "version": logged.version,
                             "experiment_id": logged.experiment_id,
                             "champion": logged.champion or ""}  # fmt: skip


def _evaluate(
    domain: Any, dataset: data.Dataset, fitted: train.Fitted, reporter: Reporter
) -> tuple[dict[str, float], dict[str, Any], Any, dict[str, Any]]:
    import numpy as np

    spec = domain.batch
    x_h = dataset.x.iloc[dataset.cut :]
    y = dataset.y
    y_h = None if y is None else y[dataset.cut :]
    score = compare.scorer(domain, spec.metrics)
    x_t, inertia = None, None
    if domain.task == "binary":
        batch = fitted.pipeline.predict_proba(x_h)[:, 1]
    elif domain.task == "regression":
        batch = np.maximum(fitted.pipeline.predict(x_h), 0.0)
    else:
        x_t = fitted.preprocessor.transform(x_h)
        batch = fitted.model.predict(x_t)
        inertia = float(-fitted.model.score(x_t))
    metrics = score(y_h, batch, x_t, inertia)
    reporter.step("evaluating", 0.2, "replaying the River pipeline over the training rows")
    river, prequential, river_name = compare.river_answers(
        domain, dataset, lambda f, m: reporter.step("evaluating", 0.2 + 0.5 * f, m)
    )
    river_scores = score(y_h, river, x_t, None)
    base = compare.baseline(domain, None if y is None else y[: dataset.cut], len(x_h))
    baseline = {} if base is None else score(y_h, base)
    comparison = {"metrics": list(spec.metrics), "batch": metrics, "river": river_scores,
                  "baseline": baseline, "river_model": river_name,
                  "river_prequential": prequential, "holdout_rows": len(x_h),
                  "train_rows": dataset.cut}  # fmt: skip
    reporter.step("evaluating", 0.75, "diagnostics")
    holdout = diagnostics.Holdout(domain, x_h, y_h, batch, fitted.pipeline, x_t, fitted.k_log)
    found = diagnostics.compute(spec.diagnostics, holdout)
    import pandas as pd

    predictions = pd.DataFrame({"batch": batch, "river": river})
    if y_h is not None:
        predictions.insert(0, "actual", y_h)
    reporter.step("evaluating", 1.0, "holdout scored")
    return metrics, comparison, predictions, found


def read_event(path: Path) -> Any:
    """The CloudEvent a JobSink mounted (structured JSON)."""
    from coelho.events import parse

    return parse({"content-type": "application/cloudevents+json"}, path.read_bytes())


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")  # fmt: skip
    settings = BatchSettings.from_env()
    path = Path(argv[0]) if argv else settings.event_file
    client = redis.Redis.from_url(Settings.from_env().redis_url, socket_timeout=10)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        event = read_event(path)
        request = TrainRequest.from_cloudevent(event)
    except (OSError, CoelhoError) as exc:
        log.error("cannot read the training request %s: %s", path, exc)
        attrs = event.get_attributes() if "event" in locals() else {}
        if attrs.get("id"):
            domain = str(attrs.get("domain") or "unknown")
            record(client, str(attrs["id"]), domain, "failed", f"bad training request: {exc}")
        return 1
    outcome = run(request, client, Storage.from_env(), settings=settings, stopping=stopping)
    return 1 if outcome == "failed" else 0
