"""Batch trainings for the Batch ML pages: request, stop, follow; runs and artifacts in MLflow.

Training is never done here: Train sends the same CloudEvent as ``coelho train`` to the
Broker's ingress (``COELHO_BROKER_URL``) and a JobSink runs the job (coelho.batch). Progress is
the job's status in Redis (coelho.batch.status); runs, metrics and the stored diagnostics come
from MLflow's REST API (``runs/search``, ``get-artifact``), so the dashboard imports neither
MLflow nor scikit-learn. Every call returns a ``Problem`` instead of raising.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import redis
import requests

from coelho.batch.request import TrainRequest, submit
from coelho.batch.status import TrainingStatus, request_state
from coelho.domains import get
from coelho.errors import BrokerUnavailable, CoelhoError
from dash_app.clients import mlflow
from dash_app.clients.http import json_body, session
from dash_app.clients.problem import Problem
from dash_app.clients.state import client, unreachable
from dash_app.config import DashConfig

RUNS = 50
_artifacts: dict[tuple[str, str], Any] = {}
_artifacts_lock = threading.Lock()


@dataclass(frozen=True)
class Run:
    run_id: str
    status: str
    start: float
    end: float | None
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def status(config: DashConfig, domain: str) -> dict[str, Any] | Problem:
    try:
        return TrainingStatus(client(config), domain).read()
    except redis.RedisError as exc:
        return unreachable(config, exc)


def request_record(config: DashConfig, request_id: str) -> dict[str, str] | Problem:
    try:
        return request_state(client(config), request_id)
    except redis.RedisError as exc:
        return unreachable(config, exc)


def train(config: DashConfig, domain: str, max_rows: int | None,
          sample_frac: float | None) -> str | Problem:  # fmt: skip
    """Send a training request; its id, or why it was not sent."""
    if not config.broker_url:
        return Problem("Training is not configured", "COELHO_BROKER_URL (the Broker's ingress) "
                       "is not set: start the local stack, or set it on the cluster.")  # fmt: skip
    current = status(config, domain)
    if isinstance(current, Problem):
        return current
    if current.get("state") == "running":
        return Problem(
            "A training is already running",
            f"Request {current.get('request_id')} is at {current.get('stage')} "
            f"({current.get('percent', 0):.0f} %): one training per domain at a time. Wait for "
            "it to end or press Stop.",
            level="warning",
        )
    try:
        request = TrainRequest.new(domain, max_rows, sample_frac, "coelho.dash")
        submit(client(config), config.broker_url, request)
    except BrokerUnavailable as exc:
        return Problem("The Broker did not take the request", str(exc))
    except CoelhoError as exc:
        return Problem("Check the training options", str(exc), level="warning")
    except redis.RedisError as exc:
        return unreachable(config, exc)
    return request.request_id


def stop(config: DashConfig, domain: str) -> str | None | Problem:
    """Ask the running training to stop; its request id, or None when none runs."""
    try:
        return TrainingStatus(client(config), domain).request_stop()
    except redis.RedisError as exc:
        return unreachable(config, exc)


def runs(config: DashConfig, domain: str) -> list[Run] | Problem:
    """The domain's batch runs, newest first (finished or not)."""
    from coelho.batch.registry import experiment_name

    found = mlflow._get(config, "/experiments/get-by-name",
                        {"experiment_name": experiment_name(get(domain))})  # fmt: skip
    if isinstance(found, Problem):
        return [] if found.title == "Not in the registry" else found
    experiment = (found.get("experiment") or {}).get("experiment_id")
    if experiment is None:
        return []
    body = _post(config, "/runs/search", {"experiment_ids": [experiment], "max_results": RUNS,
                                         "order_by": ["attributes.start_time DESC"]})  # fmt: skip
    if isinstance(body, Problem):
        return body
    return [_run(raw) for raw in body.get("runs") or []]


def _run(raw: dict[str, Any]) -> Run:
    info, data = raw.get("info") or {}, raw.get("data") or {}
    end = info.get("end_time")
    return Run(
        run_id=str(info.get("run_id")),
        status=str(info.get("status", "")),
        start=float(info.get("start_time") or 0) / 1000,
        end=float(end) / 1000 if end else None,
        metrics={m["key"]: float(m["value"]) for m in data.get("metrics") or []},
        params={p["key"]: str(p["value"]) for p in data.get("params") or []},
        tags={t["key"]: str(t["value"]) for t in data.get("tags") or []},
    )


def best_run(config: DashConfig, domain: str) -> str | None:
    """The run of ``<domain>-batch``'s champion (the best by the headline metric)."""
    body = mlflow._get(config, "/registered-models/alias",
                       {"name": f"{domain}-batch", "alias": "champion"})  # fmt: skip
    if isinstance(body, Problem):
        return None
    return (body.get("model_version") or {}).get("run_id") or None


def artifact(config: DashConfig, run_id: str, path: str) -> Any:
    """A run's JSON artifact (immutable once logged, so cached for good)."""
    key = (run_id, path)
    with _artifacts_lock:
        if key in _artifacts:
            return _artifacts[key]
    if not config.mlflow_url:
        return Problem("MLflow not configured", "COELHO_MLFLOW_URL is not set.", level="info")
    try:
        response = session().get(f"{config.mlflow_url}/get-artifact",
                                 params={"path": path, "run_uuid": run_id}, timeout=10)  # fmt: skip
    except requests.RequestException as exc:
        return Problem("MLflow unreachable", f"{type(exc).__name__} reading {path}.",
                       level="warning")  # fmt: skip
    if not response.ok:
        return Problem(f"No {path} in run {run_id[:8]}", f"MLflow answered {response.status_code}.",
                       level="warning")  # fmt: skip
    try:
        found = response.json()
    except ValueError:
        return Problem(f"{path} is not JSON", "The run's artifact could not be read.")
    with _artifacts_lock:
        _artifacts[key] = found
    return found


def _post(config: DashConfig, path: str, payload: dict[str, Any]) -> dict[str, Any] | Problem:
    if not config.mlflow_url:
        return Problem("MLflow not configured", "COELHO_MLFLOW_URL is not set.", level="info")
    try:
        response = session().post(f"{config.mlflow_url}{mlflow.API}{path}", json=payload,
                                  timeout=mlflow.TIMEOUT_S * 2)  # fmt: skip
    except requests.RequestException as exc:
        return Problem("MLflow unreachable", f"{config.mlflow_url} did not answer "
                       f"({type(exc).__name__}).", level="warning")  # fmt: skip
    body = json_body(response) or {}
    if not response.ok:
        return Problem(f"MLflow answered HTTP {response.status_code}",
                       str(body.get("message") or response.reason), level="warning")  # fmt: skip
    return body


def versions(config: DashConfig, domain: str) -> list[int]:
    """Registered versions of ``<domain>-batch``, newest first ([] when none or unreachable)."""
    body = mlflow._get(config, "/model-versions/search",
                       {"filter": f"name='{domain}-batch'", "max_results": 200})  # fmt: skip
    if isinstance(body, Problem):
        return []
    return sorted((int(v["version"]) for v in body.get("model_versions") or []), reverse=True)
