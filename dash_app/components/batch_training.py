"""The Batch ML page's training box: size of the data, Train / Stop, progress, K-search log.

Train sends a training request (a CloudEvent to the Broker, coelho.batch.request) and Stop asks
the running job to stop (coelho.batch.status); neither waits for the training. The interval
then reads the domain's training status from Redis: stage, percent, rows, the message, and for
clustering the K search so far. A refused request (another training holds the domain) shows
the job's own reason.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dash_table, dcc, html, no_update

from coelho.domains import Domain
from dash_app import config, ids
from dash_app.clients import batch
from dash_app.clients.problem import Problem
from dash_app.components.alerts import alert, muted

DEFAULT_ROWS = 10_000
STAGES = {"loading_data": "Loading data", "training": "Training", "k_search": "K search",
          "evaluating": "Evaluating", "logging": "Logging to MLflow", "done": "Done",
          "failed": "Failed", "stopped": "Stopped"}  # fmt: skip


def card(domain: Domain) -> dbc.Card:
    spec = domain.batch
    assert spec is not None
    size = [
        dbc.RadioItems(id=ids.BATCH_MODE, inline=True, value="rows", className="mb-2",
                       options=[{"label": "Max training rows", "value": "rows"},
                                {"label": "Training data %", "value": "percent"}]),
        html.Div(dbc.InputGroup([dbc.InputGroupText("newest rows"),
                                 dbc.Input(id=ids.BATCH_ROWS, type="number", min=1, step=1,
                                           value=DEFAULT_ROWS)]), id="batch-rows-box"),
        html.Div(dcc.Slider(id=ids.BATCH_PERCENT, min=1, max=100, step=1, value=100,
                            marks={1: "1 %", 25: "25 %", 50: "50 %", 75: "75 %", 100: "100 %"}),
                 id="batch-percent-box", style={"display": "none"}),
    ]  # fmt: skip
    buttons = html.Div([
        dbc.Button("Train", id=ids.BATCH_TRAIN, color="primary", className="me-2"),
        dbc.Button("Stop", id=ids.BATCH_STOP, color="danger", outline=True, disabled=True),
    ], className="my-2")  # fmt: skip
    return dbc.Card([
        dbc.CardHeader(html.Strong("Batch ML training")),
        dbc.CardBody([
            html.P(spec.summary, className="small text-muted mb-2"),
            *size, buttons,
            html.Div(id=ids.BATCH_FEEDBACK),
            dbc.Progress(id=ids.BATCH_PROGRESS, value=0, label="", className="mb-1",
                         style={"height": "1.4rem"}),
            html.Div(muted("No training yet."), id=ids.BATCH_STAGE, className="small mb-2"),
            html.Div(id=ids.BATCH_KLOG),
        ]),
    ], className="mb-3")  # fmt: skip


@callback(
    Output("batch-rows-box", "style"),
    Output("batch-percent-box", "style"),
    Input(ids.BATCH_MODE, "value"),
)
def mode(value: str) -> tuple[dict[str, str], dict[str, str]]:
    hidden = {"display": "none"}
    return ({}, hidden) if value == "rows" else (hidden, {})


@callback(
    Output(ids.BATCH_FEEDBACK, "children"),
    Output(ids.BATCH_REQUEST, "data"),
    Input(ids.BATCH_TRAIN, "n_clicks"),
    Input(ids.BATCH_STOP, "n_clicks"),
    State(ids.BATCH_MODE, "value"),
    State(ids.BATCH_ROWS, "value"),
    State(ids.BATCH_PERCENT, "value"),
    State(ids.BATCH_DOMAIN, "data"),
    prevent_initial_call=True,
)
def press(_train: int | None, _stop: int | None, mode: str, rows: Any, percent: Any,
          domain: str) -> tuple[Any, Any]:  # fmt: skip
    cfg = config.get()
    if dash.ctx.triggered_id == ids.BATCH_STOP:
        stopped = batch.stop(cfg, domain)
        if isinstance(stopped, Problem):
            return alert(stopped), no_update
        if stopped is None:
            return alert(Problem("Nothing to stop", "No training of this domain is running.",
                                 level="info")), no_update  # fmt: skip
        return muted(f"Stop requested for {stopped[:8]}: it ends at its next step."), no_update
    if mode == "rows":
        if not isinstance(rows, int | float) or rows < 1 or rows != int(rows):
            problem = Problem("Check the training options", "Max training rows: a whole number "
                              ">= 1.", field="max_rows", level="warning")  # fmt: skip
            return alert(problem), no_update
        sent = batch.train(cfg, domain, int(rows), None)
    else:
        fraction = float(percent or 100) / 100
        sent = batch.train(cfg, domain, None, None if fraction >= 1 else fraction)
    if isinstance(sent, Problem):
        return alert(sent), no_update
    return muted(f"Training requested ({sent[:8]}): waiting for the job to start…"), sent


@callback(
    Output(ids.BATCH_PROGRESS, "value"),
    Output(ids.BATCH_PROGRESS, "label"),
    Output(ids.BATCH_PROGRESS, "color"),
    Output(ids.BATCH_PROGRESS, "animated"),
    Output(ids.BATCH_PROGRESS, "striped"),
    Output(ids.BATCH_STAGE, "children"),
    Output(ids.BATCH_KLOG, "children"),
    Output(ids.BATCH_TRAIN, "disabled"),
    Output(ids.BATCH_STOP, "disabled"),
    Output(ids.BATCH_FEEDBACK, "children", allow_duplicate=True),
    Input(ids.BATCH_INTERVAL, "n_intervals"),
    State(ids.BATCH_DOMAIN, "data"),
    State(ids.BATCH_REQUEST, "data"),
    prevent_initial_call="initial_duplicate",
)
def poll(_n: int | None, domain: str, request_id: str | None) -> tuple[Any, ...]:
    cfg = config.get()
    current = batch.status(cfg, domain)
    feedback: Any = no_update
    if request_id and isinstance(current, dict) and current.get("request_id") == request_id:
        feedback = None  # the job took the request: the progress bar tells the rest
    elif request_id:
        record = batch.request_record(cfg, request_id)
        if isinstance(record, dict) and record.get("state") in ("refused", "failed"):
            if current.get("request_id") != request_id if isinstance(current, dict) else True:
                feedback = alert(Problem(f"Training {record['state']}", record.get("message", ""),
                                         level="warning"))  # fmt: skip
    if isinstance(current, Problem):
        return 0, "", "secondary", False, False, alert(current), None, False, True, feedback
    if not current:
        return (
            0,
            "",
            "secondary",
            False,
            False,
            muted("No training yet."),
            None,
            False,
            True,
            feedback,
        )
    return (*progress(current), k_log(current.get("k_log")), current.get("state") == "running",
            current.get("state") != "running", feedback)  # fmt: skip


def progress(current: dict[str, Any]) -> tuple[Any, ...]:
    """(value, label, colour, animated, striped, stage line) of a training status."""
    state, stage = current.get("state", ""), current.get("stage", "")
    percent = float(current.get("percent") or 0.0)
    running = state == "running"
    colour = {"done": "success", "failed": "danger", "stopped": "warning"}.get(state, "primary")
    rows = current.get("rows")
    line = [html.Strong(STAGES.get(stage, stage)), f" · {current.get('message', '')}"]
    if rows:
        line.append(f" · {rows:,} rows")
    return (percent, f"{percent:.0f} %", colour, running, running,
            html.Span(line, className="coelho-batch-stage"))  # fmt: skip


def k_log(entries: list[dict[str, float]] | None) -> Any:
    """The K search so far, one row per K (clustering only)."""
    if not entries:
        return None
    rows = [{"K": int(e["k"]), "silhouette": round(e.get("silhouette", float("nan")), 4),
             "Calinski-Harabasz": round(e.get("calinski_harabasz", float("nan")), 1),
             "Davies-Bouldin": round(e.get("davies_bouldin", float("nan")), 4),
             "inertia": round(e.get("inertia", float("nan")), 1)} for e in entries]  # fmt: skip
    return dash_table.DataTable(
        rows, [{"name": c, "id": c} for c in rows[0]], id="batch-klog-table",
        style_cell={"fontSize": "0.8rem", "padding": "2px 6px"},
        style_header={"fontWeight": "bold"},
    )  # fmt: skip
