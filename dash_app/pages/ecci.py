"""E-Commerce Customer Interactions: predicted cluster, cluster behaviour and analytics.

The predicted cluster comes from the predict function. "Cluster behaviour" and the analytics
use the live model's per-cluster profiles (samples per cluster, value counts of each
``PROFILE_FEATURES`` feature), read from the domain's verified checkpoint in Redis.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from coelho.domains import get
from coelho.domains.ecci import PROFILE_FEATURES
from dash_app import config, ids
from dash_app.clients import state
from dash_app.clients.problem import Problem
from dash_app.components import cluster_figures, domain_layout, figures
from dash_app.components.alerts import muted

# The domain this page shows: the registry key is the module's name (pages/<key>.py).
KEY = get(__name__.rsplit(".", 1)[-1]).key

dash.register_page(
    __name__,
    path=f"/{KEY}",
    name="Customer clustering",
    order=3,
    title="Customer clustering · COELHO",
    description="Online DBSTREAM clustering of shop sessions",
)


def _feature_select(name: str, value: str) -> dcc.Dropdown:
    return dcc.Dropdown(
        id=ids.page_id(KEY, name),
        value=value,
        clearable=False,
        options=[{"label": f, "value": f} for f in PROFILE_FEATURES],
    )


def layout(**kwargs: Any) -> html.Div:
    result = [
        html.Div(
            id=ids.page_id(KEY, "cluster"),
            className="mb-2",
            children=muted("Fill the form and press Predict"),
        ),
        dbc.Label("Cluster behaviour: distribution of", className="small mb-0"),
        _feature_select("behaviour-feature", "event_type"),
        dcc.Graph(
            id=ids.page_id(KEY, "behaviour"),
            config={"displayModeBar": False},
            figure=figures.empty("Predict to see the cluster's behaviour", 260),
        ),
        html.Div(id=ids.page_id(KEY, "behaviour-text"), className="small text-muted"),
    ]
    analytics = dbc.Card(
        [
            dbc.CardHeader(html.Strong("Cluster analytics (live model)")),
            dbc.CardBody(
                [
                    html.Div(id=ids.page_id(KEY, "analytics-note"), className="small"),
                    dcc.Graph(
                        id=ids.page_id(KEY, "samples"),
                        config={"displayModeBar": False},
                        figure=figures.empty("loading…", 260),
                    ),
                    dbc.Label("Feature distribution across clusters", className="small mb-0"),
                    _feature_select("distribution-feature", "event_type"),
                    dcc.Graph(
                        id=ids.page_id(KEY, "distribution"),
                        config={"displayModeBar": False},
                        figure=figures.empty("loading…", 300),
                    ),
                ]
            ),
        ],
        className="mb-3",
    )
    return domain_layout.page(KEY, result=result, extra=analytics)


def cluster_line(body: dict[str, Any]) -> Any:
    if not isinstance(body.get("cluster"), int):
        return muted(f"The answer has no cluster: {str(body)[:200]}")
    total = body.get("n_clusters")
    of = f" of {total}" if isinstance(total, int) else ""
    return html.Div(
        [
            html.Span("Predicted cluster ", className="fs-5"),
            html.Span(str(body["cluster"]), className="fs-2 fw-bold coelho-cluster"),
            html.Span(of, className="fs-5"),
        ]
    )


def explain(cluster: int, feature: str, profile: dict[Any, int]) -> str:
    """One sentence on the predicted cluster's most common value of ``feature``."""
    total = sum(profile.values())
    if not total:
        return f"Cluster {cluster} has no recorded {feature} values in the live model yet."
    value, count = max(profile.items(), key=lambda kv: kv[1])
    return (
        f"Of the {total:,} events the live model put in cluster {cluster}, {count / total:.0%} "
        f"have {feature} = {value}: this is what the customer's event most resembles."
    )


def behaviour(result: dict[str, Any] | None, feature: str) -> tuple[Any, Any, Any]:
    """(cluster line, bar chart of ``feature`` within the predicted cluster, sentence)."""
    if not result:
        return (
            muted("Fill the form and press Predict"),
            figures.empty("Predict to see the cluster's behaviour", 260),
            None,
        )
    body = result.get("response") or {}
    line = cluster_line(body)
    cluster = body.get("cluster")
    if not isinstance(cluster, int):
        return line, figures.empty("no cluster predicted", 260), None
    found = state.analytics(config.get(), KEY)
    if isinstance(found, Problem):
        return line, figures.empty(found.title, 260), found.text()
    profile = dict(found.profiles.get(cluster, {}).get(feature, {}))
    title = f"{feature} in cluster {cluster} (live model, {sum(profile.values()):,} samples)"
    text = explain(cluster, feature, profile)
    if result.get("model", "live") != "live":
        text += " Cluster ids of a registered model may differ from the live model's."
    return line, cluster_figures.bars(profile, title), text


@callback(
    Output(ids.page_id(KEY, "cluster"), "children"),
    Output(ids.page_id(KEY, "behaviour"), "figure"),
    Output(ids.page_id(KEY, "behaviour-text"), "children"),
    Input(ids.part(KEY, ids.RESULT_STORE), "data"),
    Input(ids.page_id(KEY, "behaviour-feature"), "value"),
)
def render(result: dict[str, Any] | None, feature: str) -> tuple[Any, Any, Any]:
    return behaviour(result, feature or PROFILE_FEATURES[0])


def analytics(feature: str) -> tuple[Any, Any, Any]:
    """(samples per cluster, feature distribution, note) of the live model."""
    found = state.analytics(config.get(), KEY)
    if isinstance(found, Problem):
        return figures.empty(found.title, 260), figures.empty(found.title, 300), muted(found.text())
    note = muted(
        f"Live model state version {found.version}: {sum(found.counts.values()):,} "
        f"scored events by the cluster id DBSTREAM gave them (ids seen so far: "
        f"{len(found.counts)}; macro-clusters are re-formed as the stream moves)."
    )
    return (
        cluster_figures.samples_per_cluster(found.counts),
        cluster_figures.distribution(found.profiles, feature),
        note,
    )


@callback(
    Output(ids.page_id(KEY, "samples"), "figure"),
    Output(ids.page_id(KEY, "distribution"), "figure"),
    Output(ids.page_id(KEY, "analytics-note"), "children"),
    Input(ids.part(KEY, ids.INTERVAL), "n_intervals"),
    Input(ids.page_id(KEY, "distribution-feature"), "value"),
)
def refresh_analytics(_n: int | None, feature: str) -> tuple[Any, Any, Any]:
    return analytics(feature or PROFILE_FEATURES[0])
