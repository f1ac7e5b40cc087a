"""The training toggle and the live learning counters of a domain.

The switch reflects the source's state when the page is rendered; after that only the user
moves it (a refresh that set it from the backend could race with a click and undo it). The
status line below is refreshed on the page interval: consuming or paused, events learned,
events per second from the metric history, log lag and the state's last update.
"""

from __future__ import annotations

import time
from typing import Any

import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, callback, html

from dash_app import config, ids
from dash_app.clients import control, state
from dash_app.clients.problem import Problem
from dash_app.components.alerts import alert, muted
from dash_app.components.model_panel import when


def card(page: str, model_summary: str) -> dbc.Card:
    cfg = config.get()
    paused = control.control(cfg).paused(control.source_name(page))
    problem = paused if isinstance(paused, Problem) else None
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Strong("Real-time training", className="me-3"),
                        dbc.Switch(
                            id=ids.part(page, ids.TRAINING_SWITCH),
                            value=paused is False,
                            disabled=problem is not None,
                            label="consume the Kafka stream",
                            className="d-inline-block mb-0",
                        ),
                    ],
                    className="d-flex align-items-center",
                ),
                html.Div(model_summary, className="small text-muted mt-1"),
                html.Div(
                    alert(problem), id=ids.part(page, ids.TRAINING_FEEDBACK), className="mt-2"
                ),
                html.Div(id=ids.part(page, ids.TRAINING_STATUS), className="small mt-1"),
            ]
        ),
        className="mb-3",
    )


@callback(
    Output(ids.part(MATCH, ids.TRAINING_SWITCH), "value"),
    Output(ids.part(MATCH, ids.TRAINING_FEEDBACK), "children"),
    Input(ids.part(MATCH, ids.TRAINING_SWITCH), "value"),
    State(ids.part(MATCH, ids.TRAINING_SWITCH), "id"),
    prevent_initial_call=True,
)
def toggle(training: bool, switch_id: dict[str, Any]) -> tuple[bool, Any]:
    """Pause or resume the domain's KafkaSource; on failure put the switch back."""
    page = switch_id["page"]
    source = control.source_name(page)
    problem = control.control(config.get()).set_paused(source, not training)
    if problem is not None:
        return not training, alert(problem)
    verb = (
        "resumed: consuming from the committed offsets"
        if training
        else ("paused: in-flight events finish, nothing new is fetched")
    )
    return training, muted(f"KafkaSource {source} {verb}.")


def status_line(page: str, now: float | None = None) -> Any:
    """Consuming/paused badge and counters; problems in Redis or control shown inline."""
    cfg = config.get()
    now = time.time() if now is None else now
    ctl = control.control(cfg)
    paused = ctl.paused(control.source_name(page))
    # The emulator's lag comes from its last fetch, so it is stale while paused: shown only
    # while consuming (e.g. the backlog draining after a resume).
    backlog = None if paused is not False else ctl.backlog(control.source_name(page))
    if isinstance(paused, Problem):
        badge = dbc.Badge("state unknown", color="secondary", className="me-2")
    elif paused:
        badge = dbc.Badge("paused", color="warning", className="me-2 coelho-paused")
    else:
        badge = dbc.Badge("consuming", color="success", className="me-2 coelho-consuming")
    info = state.status(cfg, page)
    if isinstance(info, Problem):
        return html.Div([badge, muted(info.text())])
    points = state.history(cfg, page, count=60)
    rate = state.rate(points, now) if isinstance(points, list) else 0.0
    parts = [
        html.Span(f"{info.get('events_learned', 0):,}", className="fw-bold coelho-learned"),
        " events learned · ",
        html.Span(f"{rate:,.1f}", className="coelho-rate"),
        " events/s · ",
        "new records wait in Kafka · " if paused is True else "",
        "" if backlog is None else f"Kafka lag {backlog:,} · ",
        f"log lag {info.get('lag', 0):,} · dead-lettered {info.get('dead_lettered', 0):,} · ",
        f"updated {when(info.get('updated_at'))}",
    ]
    return html.Div([badge, *parts])


@callback(
    Output(ids.part(MATCH, ids.TRAINING_STATUS), "children"),
    Input(ids.part(MATCH, ids.INTERVAL), "n_intervals"),
    State(ids.part(MATCH, ids.TRAINING_STATUS), "id"),
)
def refresh_status(_n: int | None, status_id: dict[str, Any]) -> Any:
    return status_line(status_id["page"])
