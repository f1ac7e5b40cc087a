"""The Batch ML page's runs: selector (★ the best run), grouped metrics, River vs batch, plots.

Runs come from MLflow (experiment "<title> (batch)"); the ★ marks the run of the version the
alias ``champion`` of ``<domain>-batch`` points at, which every training moves to the best
run by the domain's headline metric (and which ``?model=batch`` serves). A run's metric cards
follow the domain's ``BatchSpec.metric_groups``; the River-vs-batch table and every figure
are drawn from the run's stored ``comparison.json`` and ``diagnostics.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from coelho.batch.metrics import INFO, better
from coelho.domains import get
from dash_app import config, ids
from dash_app.clients import batch, mlflow
from dash_app.clients.problem import Problem
from dash_app.components import batch_figures
from dash_app.components.alerts import alert, muted


def card() -> dbc.Card:
    return dbc.Card([
        dbc.CardHeader(html.Strong("Runs")),
        dbc.CardBody([
            dcc.Dropdown(id=ids.BATCH_RUN, placeholder="No batch run yet: press Train",
                         clearable=False, className="mb-2"),
            html.Div(id=ids.BATCH_RUN_INFO, className="small mb-2"),
            html.Div(id=ids.BATCH_METRICS),
        ]),
    ], className="mb-3")  # fmt: skip


def _when(seconds: float | None) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if seconds else "—"
    )


def options(runs: list[batch.Run], best: str | None) -> list[dict[str, str]]:
    out = []
    for run in runs:
        star = "★ " if run.run_id == best else ""
        rows = run.params.get("rows", "?")
        label = f"{star}{_when(run.start)} · {run.run_id[:8]} · {rows} rows · {run.status}"
        out.append({"label": label, "value": run.run_id})
    return out


@callback(
    Output(ids.BATCH_RUN, "options"),
    Output(ids.BATCH_RUN, "value"),
    Output(ids.BATCH_LAST, "data"),
    Input(ids.BATCH_RUNS_INTERVAL, "n_intervals"),
    State(ids.BATCH_DOMAIN, "data"),
    State(ids.BATCH_RUN, "value"),
    State(ids.BATCH_LAST, "data"),
)
def refresh(_n: int | None, domain: str, selected: str | None, last: str | None) -> tuple:
    """Run options; a newly finished training's run is selected once, the user's choice kept."""
    cfg = config.get()
    found = batch.runs(cfg, domain)
    if isinstance(found, Problem) or not found:
        return [], None, last
    best = batch.best_run(cfg, domain)
    newest = next((r.run_id for r in found if r.status == "FINISHED"), found[0].run_id)
    choice = selected
    if selected is None or (newest != last and last is not None):
        choice = newest
    return options(found, best), choice, newest


@callback(
    Output(ids.BATCH_RUN_INFO, "children"),
    Output(ids.BATCH_METRICS, "children"),
    Output(ids.BATCH_COMPARE, "children"),
    Output(ids.BATCH_DIAGNOSTICS, "children"),
    Input(ids.BATCH_RUN, "value"),
    State(ids.BATCH_DOMAIN, "data"),
)
def show(run_id: str | None, domain: str) -> tuple[Any, Any, Any, Any]:
    if not run_id:
        nothing = muted("Train a model to see its metrics.")
        return None, nothing, nothing, nothing
    cfg = config.get()
    found = batch.runs(cfg, domain)
    if isinstance(found, Problem):
        return alert(found), no_update, no_update, no_update
    run = next((r for r in found if r.run_id == run_id), None)
    if run is None:
        return muted("This run is gone from MLflow."), None, None, None
    best = batch.best_run(cfg, domain) == run_id
    return (info(cfg, run, best), metric_cards(domain, run.metrics),
            comparison(batch.artifact(cfg, run_id, "comparison.json")),
            diagnostics(domain, batch.artifact(cfg, run_id, "diagnostics.json")))  # fmt: skip


def info(cfg: Any, run: batch.Run, best: bool) -> Any:
    link = mlflow.run_link(cfg, run.run_id)
    run_text = html.A(run.run_id[:8], href=link, target="_blank") if link else run.run_id[:8]
    parts: list[Any] = [
        dbc.Badge("★ Best run", color="warning", className="me-2") if best else None,
        "run ", run_text, f" · {run.tags.get('coelho.estimator', '')}",
        f" · {run.params.get('rows', '?')} rows ({run.params.get('train_rows', '?')} train, "
        f"{run.params.get('holdout_rows', '?')} holdout, split by time)",
        f" · {run.status} · started {_when(run.start)}",
    ]  # fmt: skip
    if run.metrics.get("train_seconds") is not None:
        parts.append(f" · fit {run.metrics['train_seconds']:.1f} s")
    return html.Div([p for p in parts if p is not None])


def _value(name: str, value: float | None) -> str:
    if value is None:
        return "—"
    if not INFO[name].ranked or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}"


def metric_cards(domain: str, metrics: dict[str, float]) -> Any:
    spec = get(domain).batch
    assert spec is not None
    groups = []
    for title, names in spec.metric_groups:
        cells = [
            dbc.Col(dbc.Card(dbc.CardBody([
                html.Div(INFO[n].label, className="small text-muted", title=INFO[n].help),
                html.Div(_value(n, metrics.get(n)), className="fs-5 fw-bold coelho-batch-metric"),
            ], className="p-2")), xs=6, md=3, className="mb-2")
            for n in names
        ]  # fmt: skip
        groups.append(html.Div([html.H6(title, className="mt-2"), dbc.Row(cells, className="g-2")]))
    return html.Div(groups)


def comparison(data: Any) -> Any:
    """River vs batch (and the know-nothing baseline) on the same holdout."""
    if isinstance(data, Problem):
        return alert(data)
    if not data:
        return muted("No comparison in this run.")
    header = html.Thead(html.Tr([html.Th(h) for h in ("metric", "batch", "River", "baseline",
                                                       "better")]))  # fmt: skip
    rows = []
    for name in data.get("metrics", []):
        b, r = data["batch"].get(name), data["river"].get(name)
        verdict = {"batch": "batch", "river": "River"}.get(better(name, b, r), "")
        rows.append(html.Tr([html.Td(INFO[name].label, title=INFO[name].help),
                             html.Td(_value(name, b)), html.Td(_value(name, r)),
                             html.Td(_value(name, data.get("baseline", {}).get(name))),
                             html.Td(verdict)]))  # fmt: skip
    note = (f"River pipeline {data.get('river_model', '?')} replayed in time order over the "
            f"same {data.get('train_rows', '?')} training rows (predict, score, then learn), "
            f"then scored without learning on the same {data.get('holdout_rows', '?')} "
            "holdout rows as the batch model.")  # fmt: skip
    return html.Div([html.P(note, className="small text-muted"),
                     dbc.Table([header, html.Tbody(rows)], size="sm", striped=True,
                               className="coelho-batch-compare")])  # fmt: skip


def diagnostics(domain: str, data: Any) -> Any:
    if isinstance(data, Problem):
        return alert(data)
    spec = get(domain).batch
    assert spec is not None
    cards = []
    for name in spec.diagnostics:
        title, what, how = batch_figures.NOTES[name]
        cards.append(dbc.Col(dbc.Card([
            dbc.CardHeader(html.Strong(title)),
            dbc.CardBody([
                dcc.Graph(figure=batch_figures.figure(name, (data or {}).get(name)),
                          id={"kind": "batch-figure", "name": name}, config={"displaylogo": False}),
                html.P([html.Strong("What it shows: "), what], className="small mb-1"),
                html.P([html.Strong("How to read it: "), how], className="small mb-0"),
            ]),
        ], className="mb-3"), lg=6))  # fmt: skip
    return dbc.Row(cards)
