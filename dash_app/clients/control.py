"""Pause and resume a domain's ingestion: the training toggle.

Locally the eventing emulator owns the KafkaSource consumers and exposes
``POST <emulator>/sources/<name>/pause|resume`` (paused = stop fetching, finish in-flight
deliveries, commit; resume continues from the committed offsets, so no event is lost). On the
cluster the same effect is a scale of the KafkaSource to 0 consumers and back, through its
``scale`` subresource, with the pod's ServiceAccount token (``COELHO_CONTROL=k8s``; the Role
in knative/base/rbac.yaml allows exactly get/patch on ``kafkasources/scale``).

The KafkaSource of a domain is named after the domain key (eventing/200-kafkasources.yaml).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import requests

from dash_app.clients.http import json_body, session, short
from dash_app.clients.problem import Problem
from dash_app.config import DashConfig

TIMEOUT_S = 5.0
SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class Control(Protocol):
    def paused(self, source: str) -> bool | Problem: ...

    def backlog(self, source: str) -> int | None:
        """Records waiting in Kafka for this source, when the backend can tell."""
        ...

    def set_paused(self, source: str, paused: bool) -> Problem | None: ...


def source_name(domain: str) -> str:
    return domain


@dataclass(frozen=True)
class EmulatorControl:
    """The local emulator's control endpoint."""

    url: str

    def _failed(self, what: str, exc: Exception) -> Problem:
        return Problem(
            f"Could not {what}",
            f"the eventing emulator at {self.url} did not answer ({type(exc).__name__}).",
        )

    def _source(self, source: str) -> dict[str, Any] | Problem:
        try:
            response = session().get(f"{self.url}/status", timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            return self._failed("read the training state", exc)
        body = json_body(response)
        info = find_source(body, source) if body is not None else None
        if info is None:
            return Problem("Unknown source", f"the emulator reports no KafkaSource {source!r}.")
        return info

    def paused(self, source: str) -> bool | Problem:
        info = self._source(source)
        return info if isinstance(info, Problem) else bool(info.get("paused", False))

    def backlog(self, source: str) -> int | None:
        """Sum of the per-partition lag the emulator reports (records not yet delivered)."""
        info = self._source(source)
        lag = None if isinstance(info, Problem) else info.get("lag")
        if isinstance(lag, dict):
            return sum(int(v) for v in lag.values() if isinstance(v, int | float))
        return int(lag) if isinstance(lag, int | float) else None

    def set_paused(self, source: str, paused: bool) -> Problem | None:
        action = "pause" if paused else "resume"
        try:
            response = session().post(f"{self.url}/sources/{source}/{action}", timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            return self._failed(f"{action} {source}", exc)
        if response.ok:
            return None
        message = str((json_body(response) or {}).get("message") or short(response.text))
        return Problem(
            f"Could not {action} {source}",
            f"the emulator answered HTTP {response.status_code}: {message}",
        )


def find_source(status: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The entry of source ``name`` in the emulator's ``GET /status`` answer.

    Accepts ``{"sources": {name: {...}}}``, ``{"sources": [{"name": ..., ...}]}`` and
    ``{name: {...}}``; a name may be qualified by its namespace (``coelho/tfd``).
    """
    sources: Any = status.get("sources", status)
    if isinstance(sources, list):
        sources = {str(s.get("name")): s for s in sources if isinstance(s, dict)}
    if not isinstance(sources, dict):
        return None
    for key, info in sources.items():
        if isinstance(info, dict) and (key == name or str(key).split("/")[-1] == name):
            return info
    return None


@dataclass(frozen=True)
class KubernetesControl:
    """Scale the KafkaSource through the Kubernetes API with the pod's ServiceAccount."""

    api: str
    namespace: str
    sa_dir: Path = SA_DIR
    resume_consumers: int = 1

    def _url(self, source: str) -> str:
        return (
            f"{self.api}/apis/sources.knative.dev/v1/namespaces/{self.namespace}"
            f"/kafkasources/{source}/scale"
        )

    def _auth(self) -> tuple[dict[str, str], str | bool] | Problem:
        try:
            token = (self.sa_dir / "token").read_text().strip()
        except OSError:
            return Problem(
                "No ServiceAccount token",
                f"{self.sa_dir}/token is missing: run with serviceAccountName "
                "coelho-dash or set COELHO_CONTROL=emulator.",
            )
        ca = self.sa_dir / "ca.crt"
        return {"Authorization": f"Bearer {token}"}, str(ca) if ca.exists() else True

    def _call(self, method: str, source: str, **kwargs: Any) -> dict[str, Any] | Problem:
        auth = self._auth()
        if isinstance(auth, Problem):
            return auth
        headers, verify = auth
        headers.update(kwargs.pop("headers", {}))
        try:
            response = session().request(
                method,
                self._url(source),
                headers=headers,
                verify=verify,
                timeout=TIMEOUT_S,
                **kwargs,
            )
        except requests.RequestException as exc:
            return Problem(
                "Kubernetes API unreachable", f"{self.api} did not answer ({type(exc).__name__})."
            )
        body = json_body(response) or {}
        if not response.ok:
            return Problem(
                f"Kubernetes refused {method} on kafkasources/{source}/scale",
                f"HTTP {response.status_code}: {body.get('message', response.reason)}",
            )
        return body

    def paused(self, source: str) -> bool | Problem:
        body = self._call("GET", source)
        if isinstance(body, Problem):
            return body
        return int((body.get("spec") or {}).get("replicas") or 0) == 0

    def backlog(self, source: str) -> int | None:
        return None  # consumer lag lives in Kafka, not in the scale subresource

    def set_paused(self, source: str, paused: bool) -> Problem | None:
        replicas = 0 if paused else self.resume_consumers
        body = self._call(
            "PATCH",
            source,
            json={"spec": {"replicas": replicas}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        return body if isinstance(body, Problem) else None


@dataclass(frozen=True)
class Unavailable:
    """No way to pause ingestion in this configuration; says why."""

    problem: Problem

    def paused(self, source: str) -> bool | Problem:
        return self.problem

    def backlog(self, source: str) -> int | None:
        return None

    def set_paused(self, source: str, paused: bool) -> Problem | None:
        return self.problem


def control(config: DashConfig) -> Control:
    """The control backend ``COELHO_CONTROL`` selects."""
    if config.control == "k8s":
        return KubernetesControl(config.kubernetes_url, config.namespace)
    if config.control == "emulator" and config.emulator_url:
        return EmulatorControl(config.emulator_url)
    reason = (
        "COELHO_EMULATOR_URL is not set."
        if config.control == "emulator"
        else ("COELHO_CONTROL=none.")
    )
    return Unavailable(Problem("Training control unavailable", reason, level="info"))
