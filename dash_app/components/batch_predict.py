"""The Batch ML page's prediction panel: the domain's form, answered by a batch model.

The same form as the live page (fields from the domain's ``FieldSpec``s, Randomize from its
generator), sent to the same predict function with ``?model=batch`` (the best run's version,
the champion of ``<domain>-batch``) or ``batch:N``. The answer is drawn by task.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, dcc, html, no_update

from coelho.domains import Domain, get
from dash_app import config, ids
from dash_app.clients import batch
from dash_app.clients import predict as predict_client
from dash_app.components import fields, figures
from dash_app.components.alerts import alert, muted
from dash_app.components.form_panel import check, fill, form_values, random_form


def card(domain: Domain) -> dbc.Card:
    page = ids.batch_page(domain.key)
    body = fields.form_body(page, domain)
    fill(body, fields.from_event(domain, domain.generate(seed=None).next_event()))
    choices = [{"label": f"Best run (champion of {domain.key}-batch)", "value": "batch"}]
    choices += [{"label": f"{domain.key}-batch version {v}", "value": f"batch:{v}"}
                for v in batch.versions(config.get(), domain.key)]  # fmt: skip
    header = html.Div([
        html.Strong("Batch prediction"),
        html.Div([
            dbc.Button("Randomize", id=ids.part(page, ids.BATCH_RANDOMIZE), color="secondary",
                       outline=True, size="sm", className="me-2"),
            dbc.Button("Predict", id=ids.part(page, ids.BATCH_PREDICT), color="primary",
                       size="sm"),
        ]),
    ], className="d-flex justify-content-between align-items-center")  # fmt: skip
    return dbc.Card([
        dbc.CardHeader(header),
        dbc.CardBody([
            dcc.Dropdown(choices, "batch", id=ids.BATCH_MODEL, clearable=False, className="mb-2"),
            html.Div(id=ids.part(page, ids.BATCH_FORM_ALERT)),
            body,
            html.Hr(),
            dcc.Loading(html.Div(muted("Fill the form and press Predict."),
                                 id=ids.part(page, ids.BATCH_RESULT)),
                        type="circle", delay_show=300),
        ]),
    ], className="mb-3")  # fmt: skip


@callback(
    Output(ids.field(MATCH, ALL), "value", allow_duplicate=True),
    Output(ids.field_date(MATCH, ALL), "date", allow_duplicate=True),
    Input(ids.part(MATCH, ids.BATCH_RANDOMIZE), "n_clicks"),
    State(ids.field(MATCH, ALL), "id"),
    State(ids.field_date(MATCH, ALL), "id"),
    prevent_initial_call=True,
)
def randomize(
    _n: int | None, field_ids: list[dict[str, Any]], date_ids: list[dict[str, Any]]
) -> tuple[list[Any], list[Any]]:
    return random_form(field_ids, date_ids)


@callback(
    # Every Output of a MATCH callback carries the same MATCH key (Dash rejects it otherwise).
    Output(ids.part(MATCH, ids.BATCH_RESULT), "children"),
    Output(ids.part(MATCH, ids.BATCH_FORM_ALERT), "children"),
    Input(ids.part(MATCH, ids.BATCH_PREDICT), "n_clicks"),
    State(ids.field(MATCH, ALL), "value"),
    State(ids.field(MATCH, ALL), "id"),
    State(ids.BATCH_MODEL, "value"),
    State(ids.field_date(MATCH, ALL), "date"),
    State(ids.field_date(MATCH, ALL), "id"),
    prevent_initial_call=True,
)
def predict(
    _n: int | None,
    values: list[Any],
    field_ids: list[dict[str, Any]],
    model: str | None,
    dates: list[Any] | None = None,
    date_ids: list[dict[str, Any]] | None = None,
) -> tuple[Any, Any]:
    domain = get(ids.page_domain(field_ids[0]["page"]))
    merged = form_values(field_ids, values, date_ids or [], dates or [])
    request, problem = check(domain, merged)
    if request is None:
        return no_update, alert(problem)
    outcome = predict_client.predict(config.get(), domain.key, request, model or "batch")
    if outcome.problem is not None or outcome.body is None:
        return alert(outcome.problem), None
    return answer(domain, outcome.body), None


def answer(domain: Domain, body: dict[str, Any]) -> Any:
    """The answer drawn by task, with the model that gave it."""
    model = body.get("model") or {}
    who = muted(f"answered by {model.get('registered_model', '?')} version "
                f"{model.get('version', '?')} ({model.get('model', '')}, trained on "
                f"{int(model.get('events_learned') or 0):,} rows)")  # fmt: skip
    if domain.task == "binary" and "fraud_probability" in body:
        probability = float(body["fraud_probability"])
        level, colour = figures.risk(probability)
        verdict = html.Div([
            html.Span("FRAUD" if body.get("is_fraud") else "NOT FRAUD", style={"color": colour},
                      className="fs-4 fw-bold me-3 coelho-verdict"),
            html.Span(f"{level} risk · fraud {probability:.1%}"),
        ])  # fmt: skip
        shown: Any = [
            dcc.Graph(figure=figures.gauge(probability), config={"displayModeBar": False}),
            verdict,
        ]
    elif domain.task == "regression" and "eta_seconds" in body:
        shown = dcc.Graph(figure=figures.eta_numbers(float(body["eta_seconds"]),
                                                     float(body["eta_minutes"])),
                          config={"displayModeBar": False})  # fmt: skip
    elif "cluster" in body:
        shown = html.Div(
            [
                html.Span("cluster ", className="text-muted"),
                html.Span(str(body["cluster"]), className="fs-2 fw-bold coelho-cluster"),
                html.Span(f" of {body.get('n_clusters', '?')}", className="text-muted"),
            ]
        )
    else:
        shown = muted(str(body)[:300])
    return html.Div([shown, who], className="coelho-batch-answer")
