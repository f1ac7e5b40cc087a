"""The common frame of the three domain pages: banner, training, form, model, result, metrics.

Importing this module registers the shared panel callbacks (they match on the page key, so
one definition serves every domain page). A page supplies its own result visuals.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from coelho.domains import Domain, get
from dash_app import config, ids
from dash_app.clients import state
from dash_app.clients.problem import Problem
from dash_app.components import form_panel, metrics_panel, model_panel, training_panel
from dash_app.components.domain_tabs import tabs

__all__ = ["form_panel", "metrics_panel", "model_panel", "page", "training_panel"]


def model_summary(domain: Domain) -> str:
    """``"<pipeline>: <summary>"`` of the pipeline the writer reports (default otherwise)."""
    info = state.status(config.get(), domain.key)
    name = "" if isinstance(info, Problem) else str(info.get("model") or "")
    spec = domain.models.get(name) or domain.models[domain.default_model]
    return f"{spec.name}: {spec.summary}"


def banner(domain: Domain) -> html.Div:
    return html.Div(
        [
            html.H2(domain.title, className="mb-0"),
            html.Div(
                f"{domain.summary} · topic {domain.topic} · task {domain.task}",
                className="opacity-75",
            ),
        ],
        className=f"coelho-banner coelho-banner-{domain.key} mb-3",
    )


def page(
    key: str,
    *,
    result: Any,
    extra: Any = None,
) -> html.Div:
    """The full layout of domain page ``key`` (rendered on every visit)."""
    domain = get(key)
    cfg = config.get()
    sample = domain.generate(seed=None).next_event()
    left = [training_panel.card(key, model_summary(domain)), form_panel.card(key, domain, sample)]
    right = [
        model_panel.card(key),
        dbc.Card(
            [
                dbc.CardHeader(html.Strong("Prediction")),
                dbc.CardBody(
                    [
                        html.Div(id=ids.part(key, ids.RESULT_ALERT)),
                        dcc.Loading(html.Div(result), type="circle", delay_show=300),
                    ]
                ),
            ],
            className="mb-3",
        ),
        metrics_panel.card(key),
    ]
    if extra is not None:
        right.append(extra)
    return html.Div(
        [
            banner(domain),
            tabs(domain, "incremental"),
            dbc.Row([dbc.Col(left, lg=5), dbc.Col(right, lg=7)]),
            dcc.Store(id=ids.part(key, ids.RESULT_STORE)),
            dcc.Interval(id=ids.part(key, ids.INTERVAL), interval=cfg.refresh_ms),
        ]
    )
