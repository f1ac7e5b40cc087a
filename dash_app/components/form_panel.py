"""The event form of a domain page with its Randomize and Predict callbacks.

Randomize draws one event from the domain's own generator (the producer's distributions);
"Random coordinates" (on forms with lat/lon points) draws only the points. When an input
changes, fields the domain derives from others (``Domain.derive``: ETA's distance and initial
estimate from the coordinates, day and hour from the timestamp) are rewritten in the form.
Predict checks the form with ``Domain.validate_request`` first, so a bad value is named before
any call, then POSTs to the domain's predict function; the answer (or the problem) goes to
the page's result store, which the page's own result callback renders.
"""

from __future__ import annotations

import time
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, ctx, html, no_update

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
        values = fields.from_event(domain, event)
        if domain.derive is not None:  # the form shows what it will recompute, from the start
            values.update(domain.derive(event))
        fill(body, values)
    points = []
    if fields.point_paths(domain):
        points.append(
            dbc.Button(
                "Random coordinates",
                id=ids.part(page, ids.RANDOM_POINTS),
                color="secondary",
                outline=True,
                size="sm",
                className="me-2",
            )
        )
    return dbc.Card(
        [
            dbc.CardHeader(
                html.Div(
                    [
                        html.Strong("Event"),
                        html.Div(
                            [
                                *points,
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
    if isinstance(cid, dict) and cid.get("kind") == ids.FIELD_DATE and cid["path"] in values:
        node.date = values[cid["path"]]
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
    Output(ids.field_date(MATCH, ALL), "date"),
    Input(ids.part(MATCH, ids.RANDOMIZE), "n_clicks"),
    State(ids.field(MATCH, ALL), "id"),
    State(ids.field_date(MATCH, ALL), "id"),
    prevent_initial_call=True,
)
def randomize(
    n_clicks: int | None, field_ids: list[dict[str, Any]], date_ids: list[dict[str, Any]]
) -> tuple[list[Any], list[Any]]:
    return random_form(field_ids, date_ids)


def random_form(
    field_ids: list[dict[str, Any]], date_ids: list[dict[str, Any]]
) -> tuple[list[Any], list[Any]]:
    """(input values, date picker dates) of one generated event, for any form's page."""
    if not field_ids:
        return [], []
    values = random_values(get(ids.page_domain(field_ids[0]["page"])), field_ids + date_ids)
    return values[: len(field_ids)], values[len(field_ids) :]


@callback(
    Output(ids.field(MATCH, ALL), "value", allow_duplicate=True),
    Input(ids.part(MATCH, ids.RANDOM_POINTS), "n_clicks"),
    State(ids.field(MATCH, ALL), "id"),
    prevent_initial_call=True,
)
def random_points(n_clicks: int | None, field_ids: list[dict[str, Any]]) -> list[Any]:
    """New lat/lon for every point of the form, from the domain's generator; nothing else."""
    if not field_ids:
        return []
    domain = get(ids.page_domain(field_ids[0]["page"]))
    wanted = set(fields.point_paths(domain))
    drawn = random_values(domain, field_ids)
    return [v if f["path"] in wanted else no_update for f, v in zip(field_ids, drawn, strict=True)]


def derived_values(
    domain: Domain,
    values: dict[str, Any],
    field_ids: list[dict[str, Any]],
    changed: set[str] | None = None,
) -> list[Any]:
    """New values of the fields ``domain.derive`` computes from the form (no_update where a
    field is not derived or already shows the derived value, so the form settles). When only
    derived fields ``changed``, the user typed one: it is left as typed."""
    if domain.derive is None:
        return [no_update for _ in field_ids]
    derived = domain.derive(fields.to_event(domain, values))
    if changed and changed <= set(derived):
        return [no_update for _ in field_ids]
    return [
        derived[f["path"]]
        if f["path"] in derived and derived[f["path"]] != values.get(f["path"])
        else no_update
        for f in field_ids
    ]


@callback(
    Output(ids.field(MATCH, ALL), "value", allow_duplicate=True),
    Input(ids.field(MATCH, ALL), "value"),
    Input(ids.field_date(MATCH, ALL), "date"),
    State(ids.field(MATCH, ALL), "id"),
    State(ids.field_date(MATCH, ALL), "id"),
    prevent_initial_call=True,
)
def derive(
    values: list[Any],
    dates: list[Any],
    field_ids: list[dict[str, Any]],
    date_ids: list[dict[str, Any]],
) -> list[Any]:
    if not field_ids or not ctx.triggered_id:
        return [no_update for _ in field_ids]
    domain = get(ids.page_domain(field_ids[0]["page"]))
    changed = {i["path"] for i in ctx.triggered_prop_ids.values() if isinstance(i, dict)}
    merged = form_values(field_ids, values, date_ids, dates)
    return derived_values(domain, merged, field_ids, changed)


def form_values(
    field_ids: list[dict[str, Any]], values: list[Any], date_ids: list[Any], dates: list[Any]
) -> dict[str, Any]:
    """Form values by path: the inputs' values and the date pickers' dates."""
    merged = {f["path"]: v for f, v in zip(field_ids, values, strict=True)}
    merged.update({d["path"]: v for d, v in zip(date_ids, dates, strict=True)})
    return merged


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
        if spec is not None and spec.kind == "timestamp" and reason == "must not be null":
            reason = "pick a date and a complete time (UTC)"
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
    State(ids.field_date(MATCH, ALL), "date"),
    State(ids.field_date(MATCH, ALL), "id"),
    prevent_initial_call=True,
    running=[(Output(ids.part(MATCH, ids.PREDICT), "disabled"), True, False)],
)
def predict(
    n_clicks: int | None,
    values: list[Any],
    field_ids: list[dict[str, Any]],
    model: str | None,
    dates: list[Any] | None = None,
    date_ids: list[dict[str, Any]] | None = None,
) -> tuple[Any, Any, Any]:
    """(result store, form alert, result alert) for one click on Predict."""
    page = field_ids[0]["page"]
    domain = get(page)
    merged = form_values(field_ids, values, date_ids or [], dates or [])
    request, problem = check(domain, merged)
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
