"""Transaction Fraud Detection: fraud-probability gauge with risk bands and verdict.

The metrics panel (every metric, gauges, confusion matrix, classification report) is the
shared one, built from the domain registry."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from coelho.domains import get
from dash_app import ids
from dash_app.components import domain_layout, figures
from dash_app.components.alerts import muted

# The domain this page shows: the registry key is the module's name (pages/<key>.py).
KEY = get(__name__.rsplit(".", 1)[-1]).key

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
    return domain_layout.page(KEY, result=result)


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
