"""POST a form's event to a domain's predict function and explain any failure.

The predict functions answer ``{...prediction, "model": {source, version, updated_at}}``;
a live answer also says how far its model was behind the log (``lag_events``, ``lag_ms``,
``refresh``: coelho.replica), read by ``live_lag``. 400 carries ``{"error", "message",
"field"}`` and 503 means no model yet. A function that is down, cold (slow to answer) or
answers something else becomes a ``Problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from dash_app.clients.http import json_body, session, short
from dash_app.clients.problem import Problem
from dash_app.config import DashConfig


@dataclass(frozen=True)
class Outcome:
    """Either ``body`` (the JSON answer) or ``problem``; ``url`` is what was called."""

    url: str | None
    body: dict[str, Any] | None = None
    problem: Problem | None = None
    status: int | None = None


@dataclass(frozen=True)
class Lag:
    """How far the live model that answered was behind the log; None where unknown."""

    events: int | None
    ms: float | None
    refresh: str

    def text(self) -> str:
        """``0 events · 0 ms behind the log``; the refresh mode when it is not the log.

        >>> Lag(2, 12.5, "log").text()
        '2 events · 12 ms behind the log'
        >>> Lag(None, None, "checkpoint").text()
        'unknown (the replica has not read the log lately) · checkpoint reloads'
        """
        if self.events is None or self.ms is None:
            said = "unknown (the replica has not read the log lately)"
        else:
            noun = "event" if self.events == 1 else "events"
            said = f"{self.events:,} {noun} · {self.ms:,.0f} ms behind the log"
        return said if self.refresh == "log" else f"{said} · {self.refresh} reloads"


def live_lag(model: Mapping[str, Any]) -> Lag | None:
    """The lag a live answer's ``model`` carries; None for answers without one (registry
    sources, or a predict function older than the log-following replicas)."""
    if "refresh" not in model:
        return None
    events, ms = model.get("lag_events"), model.get("lag_ms")
    try:
        return Lag(
            None if events is None else int(events),
            None if ms is None else float(ms),
            str(model.get("refresh")),
        )
    except (TypeError, ValueError):
        return Lag(None, None, str(model.get("refresh")))


def function_name(domain: str) -> str:
    return f"predict-{domain}"


def predict(config: DashConfig, domain: str, event: dict[str, Any], model: str) -> Outcome:
    """Call ``predict-<domain>`` with ``?model=live|champion|N``; never raises."""
    name = function_name(domain)
    base = config.function_url(name)
    if base is None:
        env = f"COELHO_URL_{name.upper().replace('-', '_')}"
        return Outcome(
            None,
            problem=Problem(
                f"{name} is not configured",
                f"No address for {name}: start the local stack (services.json) or set {env}.",
            ),
        )
    url = f"{base}/"
    try:
        response = session().post(
            url, json=event, params={"model": model or "live"}, timeout=config.timeout_s
        )
    except requests.Timeout:
        return Outcome(
            url,
            problem=Problem(
                f"{name} did not answer in time",
                f"No answer within {config.timeout_s:g} s: the function may be starting "
                "(scaled to zero) or overloaded. Try again in a moment.",
                level="warning",
            ),
        )
    except requests.ConnectionError:
        return Outcome(
            url,
            problem=Problem(
                f"{name} is down",
                f"Nothing answers at {base}: the function is not running or not reachable.",
            ),
        )
    except requests.RequestException as exc:
        return Outcome(url, problem=Problem(f"{name} could not be called", short(str(exc))))
    return _outcome(name, url, response)


def _outcome(name: str, url: str, response: requests.Response) -> Outcome:
    body = json_body(response)
    status = response.status_code
    message = str((body or {}).get("message") or short(response.text) or response.reason)
    if status == 200 and body is not None:
        return Outcome(url, body=body, status=status)
    if status == 200:
        problem = Problem(f"{name} answered something unexpected", "The answer is not JSON.")
    elif status == 400:
        field = (body or {}).get("field")
        problem = Problem(
            "The predict function rejected the input", message, field=str(field) if field else None
        )
    elif status == 503:
        problem = Problem("No model to answer with yet", message, level="warning")
    elif status == 404:
        problem = Problem("Model not found", message, level="warning")
    else:
        problem = Problem(f"{name} answered HTTP {status}", message)
    return Outcome(url, problem=problem, status=status)
