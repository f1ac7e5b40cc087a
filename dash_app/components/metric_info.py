"""The ⓘ dialog of a metric: name, formula, meaning, range, best value and River's docs.

One dialog per page; its content is rendered from the domain's ``MetricSpec`` when an ⓘ is
clicked, so the explanation exists once, in the domain registry.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, callback, ctx, html, no_update

from coelho.domains import MetricSpec, get
from dash_app import ids


def bound(value: float | None, low: bool) -> str:
    if value is None:
        return "−∞" if low else "∞"
    return f"{value:g}"


def value_range(spec: MetricSpec) -> str:
    left = "(" if spec.low is None else "["
    right = ")" if spec.high is None else "]"
    return f"{left}{bound(spec.low, True)}, {bound(spec.high, False)}{right}"


def facts(spec: MetricSpec) -> list[tuple[str, Any]]:
    """(label, content) rows of the dialog."""
    best = spec.optimum
    if spec.higher_is_better is None:
        better = "a count: neither direction is better"
    else:
        better = "higher" if spec.higher_is_better else "lower"
    return [
        ("What it means here", spec.help),
        ("Formula", html.Code(spec.formula or "—", className="coelho-formula")),
        ("Range", value_range(spec)),
        ("Best value", "—" if best is None else f"{best:g}"),
        ("Better", better),
        ("River docs", html.A(spec.docs, href=spec.docs, target="_blank") if spec.docs else "—"),
        ("Reported as", html.Code(spec.name)),
    ]


def body(spec: MetricSpec) -> html.Table:
    return html.Table(
        [
            html.Tr(
                [html.Th(label, className="pe-3 text-muted fw-normal align-top"), html.Td(content)]
            )
            for label, content in facts(spec)
        ],  # fmt: skip
        className="coelho-metric-facts",
    )


def dialog(page: str) -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(id=ids.part(page, ids.METRIC_DIALOG_TITLE))),
            dbc.ModalBody(id=ids.part(page, ids.METRIC_DIALOG_BODY)),
        ],
        id=ids.part(page, ids.METRIC_DIALOG),
        is_open=False,
        size="lg",
    )


@callback(
    Output(ids.part(MATCH, ids.METRIC_DIALOG), "is_open"),
    Output(ids.part(MATCH, ids.METRIC_DIALOG_TITLE), "children"),
    Output(ids.part(MATCH, ids.METRIC_DIALOG_BODY), "children"),
    Input(ids.metric_part(MATCH, ids.METRIC_INFO, ALL), "n_clicks"),
    prevent_initial_call=True,
)
def open_dialog(_clicks: list[int | None]) -> tuple[Any, Any, Any]:
    clicked = ctx.triggered_id
    if not isinstance(clicked, dict) or not ctx.triggered or not ctx.triggered[0]["value"]:
        return no_update, no_update, no_update
    return show(clicked["page"], clicked["metric"])


def show(page: str, name: str) -> tuple[bool, Any, Any]:
    spec = next((s for s in get(page).metric_specs() if s.name == name), None)
    if spec is None:
        return True, name, f"{page} reports no metric {name!r}."
    return True, spec.label, body(spec)
