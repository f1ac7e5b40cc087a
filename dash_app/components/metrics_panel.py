"""Live prequential metrics of a domain as time series, refreshed on the page interval.

The points come from the capped history stream the single writer appends to (see
``dash_app.clients.state``); each chart has a one-line explanation on hover, taken from the
domain's ``MetricSpec.help`` (or, for model-structure counters, from ``STRUCTURE_HELP``).
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, dcc, html

from coelho.domains import Domain, get
from dash_app import config, ids
from dash_app.clients import state
from dash_app.clients.problem import Problem
from dash_app.components import figures
from dash_app.components.alerts import muted

# Counters the model reports beside its River metrics (OnlineModel.metric_values).
STRUCTURE_HELP = {
    "n_clusters": "Macro-clusters DBSTREAM currently forms from its micro-clusters.",
    "n_micro_clusters": "Dense micro-clusters DBSTREAM keeps; they fade when not refreshed.",
    "tp": "Frauds flagged as fraud.",
    "fp": "Legit transactions flagged as fraud.",
    "fn": "Frauds missed.",
    "tn": "Legit transactions passed.",
}


def help_text(domain: Domain, name: str) -> str:
    """The one-line explanation of metric ``name`` of ``domain``."""
    for spec in domain.metrics():
        if spec.name == name:
            better = "higher is better" if spec.higher_is_better else "lower is better"
            return f"{spec.help} ({better})"
    if name in STRUCTURE_HELP:
        return STRUCTURE_HELP[name]
    raise KeyError(f"{domain.key}: no metric {name!r} to explain")


def card(page: str, names: tuple[str, ...], extra: Any = None) -> dbc.Card:
    """A grid of one chart per metric in ``names``; ``extra`` goes below (e.g. confusion)."""
    domain = get(page)
    cells = []
    for name in names:
        target = ids.help_id(page, name)
        cells.append(
            dbc.Col(
                [
                    html.Div(
                        [
                            html.Span(name, className="fw-bold small me-1"),
                            html.Span("i", id=target, className="coelho-info"),
                        ],
                    ),
                    dbc.Tooltip(help_text(domain, name), target=target, placement="top"),
                    dcc.Graph(
                        id=ids.metric(page, name),
                        figure=figures.empty("loading…", 200),
                        config={"displayModeBar": False},
                    ),
                ],
                md=6,
                className="mb-2",
            )
        )
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Strong("Prequential metrics"),
                    html.Span(
                        " — each event is scored before the model learns it",
                        className="small text-muted",
                    ),
                ]
            ),
            dbc.CardBody(
                [
                    html.Div(id=ids.part(page, ids.METRICS_NOTE)),
                    dbc.Row(cells, className="g-2"),
                    extra,
                ]
            ),
        ],
        className="mb-3",
    )


def series(page: str, names: list[str]) -> tuple[list[Any], Any]:
    """(one figure per metric name, note) from the domain's history stream."""
    cfg = config.get()
    domain = get(page)
    points = state.history(cfg, page)
    if isinstance(points, Problem):
        return [figures.empty(points.title, 200) for _ in names], muted(points.text())
    note = None if points else muted("No metric points yet: they appear once events flow.")
    return [figures.metric_series(n, points, help_text(domain, n)) for n in names], note


@callback(
    Output(ids.metric(MATCH, ALL), "figure"),
    Output(ids.part(MATCH, ids.METRICS_NOTE), "children"),
    Input(ids.part(MATCH, ids.INTERVAL), "n_intervals"),
    State(ids.metric(MATCH, ALL), "id"),
)
def refresh(_n: int | None, metric_ids: list[dict[str, Any]]) -> tuple[list[Any], Any]:
    if not metric_ids:
        return [], None
    return series(metric_ids[0]["page"], [m["metric"] for m in metric_ids])
