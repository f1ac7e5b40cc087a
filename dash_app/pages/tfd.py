"""Transaction Fraud Detection: fraud-probability gauge with risk bands, verdict, metrics."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from dash_app import config, ids
from dash_app.clients import state
from dash_app.components import domain_layout, figures
from dash_app.components.alerts import muted

KEY = "tfd"
METRICS = ("ROCAUC", "FBeta", "Precision", "Recall")

dash.register_page(
    __name__,
    path=f"/{KEY}",
    name="Fraud detection",
    order=1,
    title="Fraud detection · COELHO",
    description="Real-time fraud scoring with a prequential ROC AUC",
)


def layout(**kwargs: Any) -> html.Div:
    result = [
        dcc.Graph(
            id=ids.page_id(KEY, "gauge"),
            config={"displayModeBar": False},
            figure=figures.empty("Fill the form and press Predict", 260),
        ),
        html.Div(id=ids.page_id(KEY, "verdict"), className="text-center"),
    ]
    confusion = dcc.Graph(
        id=ids.page_id(KEY, "confusion"),
        config={"displayModeBar": False},
        figure=figures.empty("loading…", 240),
    )
    return domain_layout.page(KEY, metrics=METRICS, result=result, metrics_extra=confusion)


def verdict(body: dict[str, Any]) -> tuple[Any, Any]:
    """(gauge, verdict line) of a predict answer; a malformed answer is said so."""
    try:
        probability = float(body["fraud_probability"])
        is_fraud = bool(body["is_fraud"])
    except (KeyError, TypeError, ValueError):
        return figures.empty("The answer has no fraud_probability", 260), muted(str(body)[:200])
    level, colour = figures.risk(probability)
    line = html.Div(
        [
            html.Span(
                "FRAUD" if is_fraud else "NOT FRAUD",
                style={"color": colour},
                className="fs-3 fw-bold me-3 coelho-verdict",
            ),
            html.Span(f"{level} risk · fraud {probability:.1%} · not fraud {1 - probability:.1%}"),
        ]
    )
    return figures.gauge(probability), line


@callback(
    Output(ids.page_id(KEY, "gauge"), "figure"),
    Output(ids.page_id(KEY, "verdict"), "children"),
    Input(ids.part(KEY, ids.RESULT_STORE), "data"),
)
def render(result: dict[str, Any] | None) -> tuple[Any, Any]:
    if not result:
        return figures.empty("Fill the form and press Predict", 260), None
    return verdict(result.get("response") or {})


@callback(
    Output(ids.page_id(KEY, "confusion"), "figure"),
    Input(ids.part(KEY, ids.INTERVAL), "n_intervals"),
)
def refresh_confusion(_n: int | None) -> Any:
    points = state.history(config.get(), KEY, count=1)
    if not isinstance(points, list) or not points:
        return figures.empty("no confusion matrix yet", 240)
    return figures.confusion(points[-1].m)
