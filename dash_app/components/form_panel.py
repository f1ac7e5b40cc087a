"""The event form of a domain page with its Randomize and Predict callbacks.

Randomize draws one event from the domain's own generator (the producer's distributions).
Predict checks the form with ``Domain.validate_request`` first, so a bad value is named before
any call, then POSTs to the domain's predict function; the answer (or the problem) goes to
the page's result store, which the page's own result callback renders.
"""

from __future__ import annotations

import time
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, html, no_update

from coelho.domains import Domain, get
from coelho.errors import InvalidEvent
from dash_app import config, ids
from dash_app.clients import predict as predict_client
from dash_app.clients.problem import Problem
from dash_app.components import fields
from dash_app.components.alerts import alert


def card(page: str, domain: Domain, event: dict[str, Any] | None = None) -> dbc.Card:
    """The form, pre-filled from ``event`` when given."""
    body = fields.form_body(page, domain)
    if event is not None:
        fill(body, fields.from_event(domain, event))
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Strong("Event"),
                        html.Div(
                            [
                                dbc.Button(
                                    "Randomize",
                                    id=ids.part(page, ids.RANDOMIZE),
                                    color="secondary",
                                    outline=True,
                                    size="sm",
                                    className="me-2",
                                ),
                                dbc.Button(
                                    "Predict",
                                    id=ids.part(page, ids.PREDICT),
                                    color="primary",
                                    size="sm",
                                ),
                            ]
                        ),
                    ],
                    className="d-flex justify-content-between align-items-center",
                )
            ),
            dbc.CardBody([html.Div(id=ids.part(page, ids.FORM_ALERT)), body]),
        ],
        className="mb-3",
    )


def fill(node: Any, values: dict[str, Any]) -> None:
    """Set the initial ``value`` of every field component below ``node``."""
    cid = getattr(node, "id", None)
    if isinstance(cid, dict) and cid.get("kind") == ids.FIELD and cid["path"] in values:
        node.value = values[cid["path"]]
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            fill(child, values)


def random_values(domain: Domain, field_ids: list[dict[str, Any]]) -> list[Any]:
    """Values for ``field_ids`` (in order) from one freshly generated event."""
    event = domain.generate(seed=None).next_event()
    values = fields.from_event(domain, event)
    return [values.get(fid["path"]) for fid in field_ids]


@callback(
    Output(ids.field(MATCH, ALL), "value"),
    Input(ids.part(MATCH, ids.RANDOMIZE), "n_clicks"),
    State(ids.field(MATCH, ALL), "id"),
    prevent_initial_call=True,
)
def randomize(n_clicks: int | None, field_ids: list[dict[str, Any]]) -> list[Any]:
    if not field_ids:
        return []
    return random_values(get(field_ids[0]["page"]), field_ids)


def check(domain: Domain, values: dict[str, Any]) -> tuple[dict[str, Any] | None, Problem | None]:
    """The validated request of the form, or the problem naming the first bad field."""
    event = fields.to_event(domain, values)
    try:
        return domain.validate_request(event), None
    except InvalidEvent as exc:
        spec = dict(fields.form_fields(domain)).get(exc.field)
        name = fields.label(exc.field, spec) if spec is not None else exc.field
        reason = exc.reason
        if spec is not None and spec.kind in ("int", "float") and reason == "must not be null":
            # The browser empties a number input that is malformed or out of its range.
            reason = f"is empty, not a number or outside {fields.hint(spec)}"
        return None, Problem(
            "Check the form", f"{name}: {reason}.", field=exc.field, level="warning"
        )


@callback(
    Output(ids.part(MATCH, ids.RESULT_STORE), "data"),
    Output(ids.part(MATCH, ids.FORM_ALERT), "children"),
    Output(ids.part(MATCH, ids.RESULT_ALERT), "children"),
    Input(ids.part(MATCH, ids.PREDICT), "n_clicks"),
    State(ids.field(MATCH, ALL), "value"),
    State(ids.field(MATCH, ALL), "id"),
    State(ids.part(MATCH, ids.MODEL_SELECT), "value"),
    prevent_initial_call=True,
    running=[(Output(ids.part(MATCH, ids.PREDICT), "disabled"), True, False)],
)
def predict(
    n_clicks: int | None, values: list[Any], field_ids: list[dict[str, Any]], model: str | None
) -> tuple[Any, Any, Any]:
    """(result store, form alert, result alert) for one click on Predict."""
    page = field_ids[0]["page"]
    domain = get(page)
    request, problem = check(domain, {f["path"]: v for f, v in zip(field_ids, values, strict=True)})
    if request is None:
        return no_update, alert(problem), None
    outcome = predict_client.predict(config.get(), page, request, model or "live")
    if outcome.problem is not None:
        return None, None, alert(outcome.problem)
    return (
        {
            "request": request,
            "response": outcome.body,
            "model": model or "live",
            "at": time.time(),
            "url": outcome.url,
        },
        None,
        None,
    )
