"""Which model answers (live / champion / registered version N) and what it is.

The selector value becomes the predict call's ``?model=``. The info block shows the source,
version and last update of the model that answered the last prediction (for the live model,
also how far it was behind the log, in events and milliseconds); before any prediction it
shows the live state from Redis (with the writer's own lag) or the registry entry from
MLflow, with a link to the MLflow run when one is known. The live model's guard state
(``coelho.guard``) is shown too: when it is not ``ok`` the predict function answers from the
champion, and the block says so and why, until the model recovers or ``coelho reset``
restores a good version.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, callback, dcc, html

from dash_app import config, ids
from dash_app.clients import mlflow, state
from dash_app.clients.predict import live_lag
from dash_app.clients.problem import Problem
from dash_app.components.alerts import muted
from dash_app.config import DashConfig

FIXED_OPTIONS = [
    {"label": "Live (current Redis state)", "value": "live"},
    {"label": "Champion (MLflow alias)", "value": "champion"},
    {"label": "Latest registered version", "value": "latest"},
]


# Registered versions listed besides those holding an alias (the registry keeps about
# COELHO_REGISTRY_KEEP of them; an older one is still reachable by number through the API).
RECENT_VERSIONS = 10


def options(cfg: DashConfig, domain: str) -> list[dict[str, str]]:
    """Live, champion, latest, then the versions holding an alias and the newest ones."""
    found = mlflow.versions(cfg, domain)
    if isinstance(found, Problem):
        return FIXED_OPTIONS
    held = mlflow.aliases(cfg, domain)
    held = {} if isinstance(held, Problem) else held
    extra = []
    for rank, v in enumerate(found):
        names = sorted(set(v.aliases) | set(held.get(v.version, ())))
        if rank < RECENT_VERSIONS or names:
            label = f"Version {v.version}" + (f" ({', '.join(names)})" if names else "")
            extra.append({"label": label, "value": str(v.version)})
    return FIXED_OPTIONS + extra


def card(page: str) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.Strong("Model")),
            dbc.CardBody(
                [
                    dcc.Dropdown(
                        id=ids.part(page, ids.MODEL_SELECT),
                        options=options(config.get(), page),
                        value="live",
                        clearable=False,
                        className="mb-2",
                    ),
                    html.Div(id=ids.part(page, ids.MODEL_INFO), className="small"),
                ]
            ),
        ],
        className="mb-3",
    )


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    moment = datetime.fromtimestamp(float(timestamp), UTC)
    ago = max(0.0, time.time() - float(timestamp))
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_ago(ago)})"


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _rows(rows: list[tuple[str, Any]]) -> html.Table:
    return html.Table(
        [html.Tr([html.Th(k, className="pe-3 fw-normal text-muted"), html.Td(v)]) for k, v in rows],
        className="coelho-model-info",
    )


def _run(cfg: DashConfig, run_id: str | None, label: str = "MLflow run") -> Any:
    if not run_id:
        return muted("no MLflow run")
    link = mlflow.run_link(cfg, run_id)
    text = f"{label} {run_id[:8]}"
    return html.A(text, href=link, target="_blank") if link else text


def describe(cfg: DashConfig, page: str, selected: str, result: dict[str, Any] | None) -> Any:
    """The info block for the selected model (and the answer to the last prediction)."""
    answered = (result or {}).get("response", {}).get("model") if result else None
    if answered and (result or {}).get("model") == selected:
        rows = [
            ("source", answered.get("source", selected)),
            ("version", answered.get("version", "?")),
            ("pipeline", answered.get("model") or "—"),
            ("events learned", f"{int(answered.get('events_learned') or 0):,}"),
            ("last update", _updated(answered.get("updated_at"))),
        ]
        lag = live_lag(answered)
        if lag is not None:
            rows.append(("lag", lag.text()))
        run_id = answered.get("run_id")
        if run_id:
            rows.append(("run", _run(cfg, str(run_id))))
        fallback = answered.get("fallback")
        if fallback:
            rows.insert(0, ("fallback", _fallback(fallback)))
        return _rows(rows + _registry_rows(cfg, page, selected, with_run=not run_id))
    if selected == "live":
        info = state.status(cfg, page)
        if isinstance(info, Problem):
            return muted(info.text())
        rows = [
            ("source", "live (Redis state)"),
            ("pipeline", info.get("model") or "—"),
            ("state version", info.get("state_version", 0)),
            ("events learned", f"{info.get('events_learned', 0):,}"),
            ("last update", when(info.get("updated_at"))),
            ("writer lag", _writer_lag(info)),
            ("health", _health(info.get("health") or {})),
        ]
        return _rows(rows + _registry_rows(cfg, page, selected, with_run=True))
    return _rows([("source", selected)] + _registry_rows(cfg, page, selected, with_run=True))


def _writer_lag(info: dict[str, Any]) -> str:
    """Events appended but not yet learned, and how long the last one learned had waited."""
    events = int(info.get("lag") or 0)
    noun = "event" if events == 1 else "events"
    return f"{events:,} {noun} · {float(info.get('lag_ms') or 0.0):,.0f} ms"


def _health(health: dict[str, Any]) -> Any:
    """The guard's verdict on the live model; not ``ok`` means predictions use the champion."""
    state = health.get("state") or "ok"
    if state == "ok":
        return html.Span("ok", className="text-success coelho-health")
    return html.Span(
        [html.Strong(state), f": {health.get('reason') or 'no reason recorded'}. ",
         "Live predictions are answered by the champion until the model recovers or "
         "`coelho reset` restores a good version."],
        className="text-danger coelho-health",
    )  # fmt: skip


def _fallback(fallback: dict[str, Any]) -> Any:
    return html.Span(
        [html.Strong("answered by the champion"),
         f": the live model (version {fallback.get('live_version', '?')}) is "
         f"{fallback.get('state', 'unhealthy')}: {fallback.get('reason') or ''}"],
        className="text-danger coelho-health",
    )  # fmt: skip


def _updated(value: Any) -> str:
    """A unix time or ISO-8601 string as ``when`` shows it."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value).timestamp()
        except ValueError:
            return value
    if isinstance(value, int | float):
        return when(float(value))
    return "—"


def _registry_rows(cfg: DashConfig, page: str, selected: str, with_run: bool) -> list[Any]:
    """Registry facts: for live, the latest snapshot; otherwise the selected version."""
    if selected == "live":
        found = mlflow.versions(cfg, page)
        if isinstance(found, Problem):
            return [("MLflow", muted(found.message))]
        if not found:
            return [("MLflow", muted("no snapshot registered yet"))]
        latest = found[0]
        rows: list[Any] = [("latest snapshot", _version_link(cfg, page, latest.version))]
        if with_run:
            rows.append(("run", _run(cfg, latest.run_id)))
        return rows
    resolved = mlflow.resolve(cfg, page, selected)
    if isinstance(resolved, Problem):
        return [("MLflow", muted(resolved.message))]
    rows = [
        ("registered", _version_link(cfg, page, resolved.version)),
        ("registered at", when(resolved.created)),
    ]
    if with_run:
        rows.append(("run", _run(cfg, resolved.run_id)))
    return rows


def _version_link(cfg: DashConfig, page: str, version: int) -> Any:
    link = mlflow.version_link(cfg, page, version)
    text = f"{mlflow.registered_name(page)} v{version}"
    return html.A(text, href=link, target="_blank") if link else text


@callback(
    Output(ids.part(MATCH, ids.MODEL_INFO), "children"),
    Input(ids.part(MATCH, ids.MODEL_SELECT), "value"),
    Input(ids.part(MATCH, ids.RESULT_STORE), "data"),
    Input(ids.part(MATCH, ids.INTERVAL), "n_intervals"),
    State(ids.part(MATCH, ids.MODEL_SELECT), "id"),
)
def model_info(
    selected: str | None, result: dict[str, Any] | None, _n: int | None, select_id: dict[str, Any]
) -> Any:
    return describe(config.get(), select_id["page"], selected or "live", result)
