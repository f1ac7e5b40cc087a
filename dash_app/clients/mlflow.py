"""Registered versions, aliases and run links from MLflow's REST API.

Plain HTTP on purpose: importing the ``mlflow`` package costs over a second and pulls in far
more than a dashboard needs. Registered models are named ``<domain>-river`` (issue #3); the
snapshot function registers one version per snapshot and moves the aliases ``latest`` and
``champion``. Answers are cached for a few seconds so page refreshes do not hammer MLflow.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from dash_app.clients.http import json_body, session
from dash_app.clients.problem import Problem
from dash_app.config import DashConfig

TIMEOUT_S = 2.0
CACHE_S = 5.0
API = "/api/2.0/mlflow"


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: int
    run_id: str | None
    created: float | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)


def registered_name(domain: str) -> str:
    return f"{domain}-river"


_cache: dict[tuple[str, str], tuple[float, Any]] = {}
_lock = threading.Lock()


def _get(config: DashConfig, path: str, params: dict[str, Any]) -> dict[str, Any] | Problem:
    if not config.mlflow_url:
        return Problem("MLflow not configured", "COELHO_MLFLOW_URL is not set.", level="info")
    key = (f"{config.mlflow_url}{path}", repr(sorted(params.items())))
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < CACHE_S:
        return hit[1]  # type: ignore[no-any-return]
    try:
        response = session().get(
            f"{config.mlflow_url}{API}{path}", params=params, timeout=TIMEOUT_S
        )
    except requests.RequestException as exc:
        return Problem(
            "MLflow unreachable",
            f"{config.mlflow_url} did not answer ({type(exc).__name__}).",
            level="warning",
        )
    body = json_body(response) or {}
    if response.status_code == 404 or body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
        result: dict[str, Any] | Problem = Problem(
            "Not in the registry", str(body.get("message") or "not found"), level="info"
        )
    elif not response.ok:
        result = Problem(
            f"MLflow answered HTTP {response.status_code}",
            str(body.get("message") or response.reason),
            level="warning",
        )
    else:
        result = body
    with _lock:
        _cache[key] = (now, result)
    return result


def _version(raw: dict[str, Any]) -> ModelVersion:
    created = raw.get("creation_timestamp")
    return ModelVersion(
        name=str(raw.get("name", "")),
        version=int(raw.get("version", 0)),
        run_id=raw.get("run_id") or None,
        created=float(created) / 1000.0 if created else None,
        aliases=tuple(raw.get("aliases") or ()),
    )


def versions(config: DashConfig, domain: str) -> list[ModelVersion] | Problem:
    """Registered versions of ``<domain>-river``, newest first."""
    body = _get(
        config,
        "/model-versions/search",
        {"filter": f"name='{registered_name(domain)}'", "max_results": 200},
    )
    if isinstance(body, Problem):
        return body
    found = [_version(v) for v in body.get("model_versions") or []]
    return sorted(found, key=lambda v: v.version, reverse=True)


def aliases(config: DashConfig, domain: str) -> dict[int, tuple[str, ...]] | Problem:
    """Version -> the aliases it holds (version searches do not carry them; the model does)."""
    body = _get(config, "/registered-models/get", {"name": registered_name(domain)})
    if isinstance(body, Problem):
        return body
    held: dict[int, tuple[str, ...]] = {}
    for entry in (body.get("registered_model") or {}).get("aliases") or []:
        version = int(entry.get("version", 0))
        held[version] = (*held.get(version, ()), str(entry.get("alias", "")))
    return held


def resolve(config: DashConfig, domain: str, model: str) -> ModelVersion | Problem:
    """The registered version behind a selector value: ``champion``, ``latest`` or ``N``.

    ``latest`` is the newest version (the registry resolves it without an alias)."""
    name = registered_name(domain)
    if model == "latest":
        found = versions(config, domain)
        if isinstance(found, Problem):
            return found
        if not found:
            return Problem("Not in the registry", f"{name} has no version yet", level="info")
        return found[0]
    if model.isdigit():
        body = _get(config, "/model-versions/get", {"name": name, "version": model})
    else:
        body = _get(config, "/registered-models/alias", {"name": name, "alias": model})
    if isinstance(body, Problem):
        return body
    return _version(body.get("model_version") or {})


def run_link(config: DashConfig, run_id: str) -> str | None:
    """Browser URL of an MLflow run (its experiment looked up once, then cached)."""
    if not config.mlflow_link:
        return None
    body = _get(config, "/runs/get", {"run_id": run_id})
    if isinstance(body, Problem):
        return None
    experiment = ((body.get("run") or {}).get("info") or {}).get("experiment_id")
    if experiment is None:
        return None
    return f"{config.mlflow_link}/#/experiments/{experiment}/runs/{quote(run_id)}"


def version_link(config: DashConfig, domain: str, version: int) -> str | None:
    if not config.mlflow_link:
        return None
    return f"{config.mlflow_link}/#/models/{registered_name(domain)}/versions/{version}"
