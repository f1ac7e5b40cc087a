"""Dash callbacks called as plain functions (Dash >= 2.6), with the clients they use faked.

No server runs here: the browser tests drive the same callbacks through real Chromium
against a real stack. These pin what each callback returns for success and for every
failure a user can meet.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from dash import no_update

from coelho.domains import REGISTRY
from dash_app import ids
from dash_app.clients.predict import Outcome
from dash_app.clients.problem import Problem
from dash_app.clients.state import Point
from dash_app.config import DashConfig
from tests.unit.dash_support import text_of

pytestmark = pytest.mark.usefixtures("dash_app_instance")


def _field_ids(key: str) -> list[dict[str, Any]]:
    from dash_app.components import fields

    return fields.input_ids(key, REGISTRY[key])[0]


def _date_ids(key: str) -> list[dict[str, Any]]:
    from dash_app.components import fields

    return fields.input_ids(key, REGISTRY[key])[1]


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_randomize_fills_every_field_with_a_valid_event(key: str) -> None:
    from dash_app.components import fields, form_panel

    field_ids, date_ids = _field_ids(key), _date_ids(key)
    values, dates = form_panel.randomize(1, field_ids, date_ids)
    assert len(values) == len(field_ids) and len(dates) == len(date_ids) == 1
    specs = dict(fields.form_fields(REGISTRY[key]))
    for fid, value in zip(field_ids, values, strict=True):
        assert value is not None or specs[fid["path"]].nullable or "@" in fid["path"], fid
    assert all(isinstance(d, str) and len(d) == 10 for d in dates)
    by_path = form_panel.form_values(field_ids, values, date_ids, dates)
    REGISTRY[key].validate_request(fields.to_event(REGISTRY[key], by_path))
    assert form_panel.randomize(2, field_ids, date_ids) != (values, dates)  # fresh each click


def test_predict_names_the_bad_field_and_makes_no_call(monkeypatch: pytest.MonkeyPatch) -> None:
    from dash_app.components import form_panel

    def no_call(*args: Any) -> Outcome:
        raise AssertionError("an invalid form must not reach the predict function")

    monkeypatch.setattr(form_panel.predict_client, "predict", no_call)
    field_ids, date_ids = _field_ids("tfd"), _date_ids("tfd")
    values = form_panel.random_values(REGISTRY["tfd"], field_ids)
    dates = form_panel.random_values(REGISTRY["tfd"], date_ids)
    values[[f["path"] for f in field_ids].index("amount")] = None
    store, form_alert, result_alert = form_panel.predict(
        1, values, field_ids, "live", dates, date_ids
    )
    assert store is no_update and result_alert is None
    assert "Amount (currency units)" in text_of(form_alert) and "amount" in text_of(form_alert)
    values[[f["path"] for f in field_ids].index("currency")] = "XXX"
    values[[f["path"] for f in field_ids].index("amount")] = 10
    _store, form_alert, _ = form_panel.predict(1, values, field_ids, "live", dates, date_ids)
    assert "currency" in text_of(form_alert) and "not one of" in text_of(form_alert)


def test_predict_stores_the_answer_or_shows_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    from dash_app.components import form_panel

    calls: list[tuple[str, dict[str, Any], str]] = []
    answer = {"eta_seconds": 600.0, "eta_minutes": 10.0, "model": {"source": "live"}}

    def fake(cfg: DashConfig, domain: str, event: dict[str, Any], model: str) -> Outcome:
        calls.append((domain, event, model))
        return Outcome("http://x/", body=answer)

    monkeypatch.setattr(form_panel.predict_client, "predict", fake)
    field_ids, date_ids = _field_ids("eta"), _date_ids("eta")
    values = form_panel.random_values(REGISTRY["eta"], field_ids)
    dates = form_panel.random_values(REGISTRY["eta"], date_ids)
    store, form_alert, result_alert = form_panel.predict(1, values, field_ids, "3", dates, date_ids)
    assert store["response"] == answer and store["model"] == "3"
    assert form_alert is None and result_alert is None
    assert calls[0][0] == "eta" and calls[0][2] == "3"
    assert "trip_id" not in calls[0][1]  # ids never leave the form

    def down(*args: Any) -> Outcome:
        return Outcome("http://x/", problem=Problem("predict-eta is down", "Nothing answers"))

    monkeypatch.setattr(form_panel.predict_client, "predict", down)
    store, _form, result_alert = form_panel.predict(2, values, field_ids, None, dates, date_ids)
    assert store is None and "predict-eta is down" in text_of(result_alert)


def test_training_toggle_reverts_the_switch_when_control_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dash_app.components import training_panel

    asked: list[tuple[str, bool]] = []

    class Fake:
        def __init__(self, problem: Problem | None) -> None:
            self.problem = problem

        def paused(self, source: str) -> bool:
            return False

        def backlog(self, source: str) -> int | None:
            return 3

        def set_paused(self, source: str, paused: bool) -> Problem | None:
            asked.append((source, paused))
            return self.problem

    monkeypatch.setattr(training_panel.control, "control", lambda cfg: Fake(None))
    value, feedback = training_panel.toggle(False, ids.part("ecci", ids.TRAINING_SWITCH))
    assert value is False and asked == [("ecci", True)] and "paused" in text_of(feedback)
    failing = Fake(Problem("Could not resume ecci", "emulator down"))
    monkeypatch.setattr(training_panel.control, "control", lambda cfg: failing)
    value, feedback = training_panel.toggle(True, ids.part("ecci", ids.TRAINING_SWITCH))
    assert value is False and "Could not resume ecci" in text_of(feedback)


def test_status_line_and_model_info_survive_a_dead_redis() -> None:
    from dash_app.components import model_panel, training_panel

    line = training_panel.status_line("tfd")
    assert "State store unreachable" in text_of(line)
    info = model_panel.model_info("live", None, 1, ids.part("tfd", ids.MODEL_SELECT))
    assert "State store unreachable" in text_of(info)


def test_model_info_describes_the_model_that_answered() -> None:
    from dash_app.components import model_panel

    result = {
        "model": "champion",
        "response": {"model": {"source": "champion", "version": 7, "model": "logreg",
                               "updated_at": "2026-01-02T03:04:05+00:00", "events_learned": 1234}},
    }  # fmt: skip
    text = text_of(model_panel.describe(DashConfig(), "tfd", "champion", result))
    assert "champion" in text and "7" in text and "1,234" in text and "2026-01-02 03:04:05" in text
    assert "COELHO_MLFLOW_URL" in text  # registry facts need MLflow: said so, not hidden


def test_model_info_shows_how_far_the_live_model_was_behind_the_log() -> None:
    from dash_app.components import model_panel

    answered = {"source": "live", "version": 4, "model": "logreg", "events_learned": 5000,
                "updated_at": "2026-01-02T03:04:05+00:00", "position": "1767323045000-0",
                "lag_events": 3, "lag_ms": 17.2, "refresh": "log"}  # fmt: skip
    result = {"model": "live", "response": {"model": answered}}
    text = text_of(model_panel.describe(DashConfig(), "tfd", "live", result))
    assert "lag" in text and "3 events · 17 ms behind the log" in text
    answered |= {"lag_events": 0, "lag_ms": 0.0, "refresh": "checkpoint"}
    text = text_of(model_panel.describe(DashConfig(), "tfd", "live", result))
    assert "0 events · 0 ms behind the log · checkpoint reloads" in text


def test_model_info_says_when_the_champion_answered_for_an_unhealthy_live_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dash_app.components import model_panel

    result = {
        "model": "live",
        "response": {"model": {"source": "champion", "version": 3, "model": "linear",
                               "fallback": {"from": "live", "live_version": 41,
                                            "state": "diverged", "reason": "2 of the last 200 "
                                            "predictions were far outside the physical range"}}},
    }  # fmt: skip
    text = text_of(model_panel.describe(DashConfig(), "eta", "live", result))
    assert "answered by the champion" in text and "version 41" in text and "diverged" in text
    status = {
        "model": "linear",
        "state_version": 41,
        "events_learned": 1500,
        "updated_at": 0,
        "health": {"state": "diverged", "reason": "far outside the physical range"},
    }
    monkeypatch.setattr(model_panel.state, "status", lambda cfg, page: status)
    text = text_of(model_panel.describe(DashConfig(), "eta", "live", None))
    assert "diverged : far outside the physical range" in text and "coelho reset" in text
    status["health"] = {"state": "ok"}
    assert "health" in text_of(model_panel.describe(DashConfig(), "eta", "live", None))


def test_an_unexpected_callback_failure_is_said_in_the_page() -> None:
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    from dash_app.app import on_error

    ctx = AttributeDict(updated_props={})
    token = context_value.set(ctx)
    try:
        on_error(RuntimeError("boom"))
    finally:
        context_value.reset(token)
    shown = ctx.updated_props[ids.APP_ERROR]["children"]
    assert "Something went wrong" in text_of(shown) and "RuntimeError" in text_of(shown)


def test_a_failing_callback_answers_with_the_page_alert_over_http(
    dash_app_instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through Dash's real dispatch: the browser gets an alert, not a 500 and a stale page."""
    app = dash_app_instance
    import json

    from dash_app.pages import tfd

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("verdict exploded")

    monkeypatch.setattr(tfd, "verdict", broken)
    client = app.server.test_client()
    assert client.get("/").status_code == 200  # sets the callback map up
    store = ids.part("tfd", ids.RESULT_STORE)
    payload = {
        "output": "..tfd-gauge.figure...tfd-verdict.children..",
        "outputs": [{"id": "tfd-gauge", "property": "figure"},
                    {"id": "tfd-verdict", "property": "children"}],
        "inputs": [{"id": store, "property": "data", "value": {"response": {}}}],
        "changedPropIds": [json.dumps(store, sort_keys=True, separators=(",", ":")) + ".data"],
        "state": [],
    }  # fmt: skip
    response = client.post("/_dash-update-component", json=payload)
    body = response.get_json()
    assert response.status_code == 200, response.data[:500]
    assert "Something went wrong" in json.dumps(body["sideUpdate"][ids.APP_ERROR])


def test_the_refresh_answers_through_dashs_own_dispatch(
    dash_app_instance: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real request of a metrics panel refresh: every card's figure and value, the
    gauges, the figures; then, with nothing new in the history, 204 (nothing redrawn), never
    a 500. (Here, beside the other HTTP test: the first app that serves a request takes
    Dash's global callback map, so HTTP tests share this module's app.)"""
    import json

    from dash_app.components import metrics_panel

    key = "tfd"
    specs = REGISTRY[key].metric_specs()
    points = [Point(time.time(), 600, {s.name: 0.5 for s in specs})]
    monkeypatch.setattr(metrics_panel.state, "history", lambda cfg, k, count=None: points)
    client = dash_app_instance.server.test_client()
    assert client.get("/").status_code == 200
    output = next(k for k in dash_app_instance.callback_map if ids.METRICS_SEEN in k)
    names = [s.name for s in specs]
    gauges = [s.name for s in specs if s.gauge]
    figures = ["confusion", "report"]
    seen_id = ids.part(key, ids.METRICS_SEEN)

    def each(make: Any, items: list[str], prop: str, value: bool = False) -> list[Any]:
        return [{"id": make(n), "property": prop, **({"value": make(n)} if value else {})}
                for n in items]  # fmt: skip

    def post(seen: Any) -> Any:
        interval = ids.part(key, ids.INTERVAL)
        payload = {
            "output": output,
            "outputs": [
                each(lambda n: ids.metric(key, n), names, "figure"),
                each(lambda n: ids.metric_part(key, ids.METRIC_VALUE, n), names, "children"),
                each(lambda n: ids.metric_part(key, ids.METRIC_GAUGE, n), gauges, "figure"),
                each(lambda n: ids.panel_figure(key, n), figures, "figure"),
                {"id": ids.part(key, ids.METRICS_NOTE), "property": "children"},
                {"id": seen_id, "property": "data"},
            ],
            "inputs": [{"id": interval, "property": "n_intervals", "value": 3}],
            "state": [
                each(lambda n: ids.metric(key, n), names, "id", True),
                each(lambda n: ids.metric_part(key, ids.METRIC_GAUGE, n), gauges, "id", True),
                each(lambda n: ids.panel_figure(key, n), figures, "id", True),
                {"id": seen_id, "property": "id", "value": seen_id},
                {"id": seen_id, "property": "data", "value": seen},
            ],
            "changedPropIds": [json.dumps(interval, sort_keys=True, separators=(",", ":"))
                               + ".n_intervals"],
        }  # fmt: skip
        return client.post("/_dash-update-component", json=payload)

    first = post(None)
    assert first.status_code == 200, first.data[:500]
    body = first.get_json()["response"]
    shown = json.dumps(body)
    assert shown.count('"coelho-metric-value"') == len(names)
    assert '"type": "indicator"' in shown or '"type":"indicator"' in shown
    signature = next(v["data"] for k, v in body.items() if ids.METRICS_SEEN in k)
    assert post(signature).status_code == 204
