"""Batch ML: train a domain's scikit-learn model as a job, judge it, compare it with River.

``/<domain>/batch``: the training box (how much data, Train / Stop, progress and stage, the K
search of clustering), the runs with ★ on the best, its metrics by group, River vs batch on
the same holdout, interactive diagnostics with a note each, and batch predictions from the
domain's form. Training runs in a Job (Knative JobSink; locally the emulator's subprocess),
never in the dashboard; see coelho.batch.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from coelho.domains import REGISTRY
from dash_app import config, ids
from dash_app.clients.problem import Problem
from dash_app.components import batch_predict, batch_runs, batch_training
from dash_app.components.alerts import alert
from dash_app.components.domain_layout import banner
from dash_app.components.domain_tabs import tabs

POLL_MS = 1000

dash.register_page(
    __name__,
    path_template="/<domain>/batch",
    name="Batch ML",
    title="Batch ML · COELHO",
    description="scikit-learn models trained from the lakehouse as jobs, compared with River",
)


def layout(domain: str | None = None, **kwargs: Any) -> html.Div:
    spec = REGISTRY.get(domain or "")
    if spec is None or spec.batch is None:
        known = ", ".join(f"/{k}/batch" for k, d in REGISTRY.items() if d.batch)
        return html.Div(alert(Problem("No such Batch ML page", f"Unknown domain {domain!r}; "
                                      f"try {known}")))  # fmt: skip
    cfg = config.get()
    left = [batch_training.card(spec), batch_predict.card(spec)]
    right = [
        batch_runs.card(),
        dbc.Card([dbc.CardHeader(html.Strong("River vs batch, same holdout")),
                  dbc.CardBody(html.Div(id=ids.BATCH_COMPARE))], className="mb-3"),
        html.H5("Diagnostics (holdout)", className="mt-2"),
        html.Div(id=ids.BATCH_DIAGNOSTICS),
    ]  # fmt: skip
    return html.Div([
        banner(spec),
        tabs(spec, "batch"),
        dcc.Store(id=ids.BATCH_DOMAIN, data=spec.key),
        dcc.Store(id=ids.BATCH_REQUEST),
        dcc.Store(id=ids.BATCH_LAST),
        dcc.Interval(id=ids.BATCH_INTERVAL, interval=min(POLL_MS, cfg.refresh_ms)),
        dcc.Interval(id=ids.BATCH_RUNS_INTERVAL, interval=cfg.refresh_ms),
        dbc.Row([dbc.Col(left, lg=5), dbc.Col(right, lg=7)]),
    ])  # fmt: skip
