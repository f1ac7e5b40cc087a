"""The event forms: built from the domain registry, and form values <-> valid requests."""

from __future__ import annotations

from datetime import datetime

import pytest

from coelho.domains import REGISTRY, Domain
from dash_app.components import fields

DOMAINS = sorted(REGISTRY)


@pytest.mark.parametrize("key", DOMAINS)
def test_form_has_every_request_field_and_nothing_else(key: str) -> None:
    domain = REGISTRY[key]
    shown = {path for path, _spec in fields.form_fields(domain)}
    expected = {
        path
        for top in domain.fields
        if top.role in ("feature", "context")
        for path, _spec in top.leaves()
    }
    assert shown == expected
    hidden = {top.name for top in domain.fields if top.role in ("id", "target", "debug")}
    assert not {path.split(".")[0] for path in shown} & hidden
    assert hidden, f"{key} should have id/target/debug fields to hide"


@pytest.mark.parametrize("key", DOMAINS)
def test_generated_event_round_trips_through_the_form(key: str) -> None:
    domain: Domain = REGISTRY[key]
    for seed in range(20):
        event = domain.generate(seed=seed).next_event()
        values = fields.from_event(domain, event)
        request = domain.validate_request(fields.to_event(domain, values))
        sent = request["timestamp"]
        assert datetime.fromisoformat(sent) == datetime.fromisoformat(event["timestamp"]).replace(
            microsecond=0
        )
        assert request == domain.validate_request({**event, "timestamp": sent}), (
            f"{key} seed {seed}"
        )


def test_inputs_take_ranges_and_choices_from_the_schema() -> None:
    domain = REGISTRY["tfd"]
    specs = dict(fields.form_fields(domain))
    amount = fields.control("tfd", "amount", specs["amount"])
    assert (amount.type, amount.min, amount.max) == ("number", 0, 1_000_000)
    currency = fields.control("tfd", "currency", specs["currency"])
    assert [o["value"] for o in currency.options] == list(specs["currency"].choices or ())
    assert currency.id == {"page": "tfd", "kind": "field", "path": "currency"}
    assert fields.control("tfd", "cvv_provided", specs["cvv_provided"]).value is False
    age = fields.control("tfd", "account_age_days", specs["account_age_days"])
    assert age.step == 1


def test_empty_and_typed_values_convert_for_validation() -> None:
    domain = REGISTRY["ecci"]
    values = fields.from_event(domain, domain.generate(seed=3).next_event())
    values.update({"price": "", "quantity": 2.0, "search_query": "  ", "product_id": None})
    event = fields.to_event(domain, values)
    assert event["price"] is None and event["quantity"] == 2
    assert isinstance(event["quantity"], int)
    assert event["search_query"] is None and event["product_id"] is None
    assert event["device_info"]["os"] == values["device_info.os"]
    domain.validate_request(event)


def test_labels_and_hints_say_what_to_type() -> None:
    specs = dict(fields.form_fields(REGISTRY["tfd"]))
    assert fields.label("amount", specs["amount"]) == "Amount (currency units)"
    assert fields.label("device_info.os", specs["device_info.os"]) == "Device info · Os"
    assert fields.hint(specs["amount"]) == "0 – 1,000,000"
    assert "UTC" in fields.hint(specs["timestamp"])
    assert "optional" in fields.hint(dict(fields.form_fields(REGISTRY["ecci"]))["price"])


def test_long_numbered_choices_become_a_prefixed_number_input() -> None:
    specs = dict(fields.form_fields(REGISTRY["eta"]))
    series = fields.numbered(specs["driver_id"])
    assert series == fields.Numbered("driver_", 1000, 5000)
    group = fields.control("eta", "driver_id", specs["driver_id"])
    prefix, box = group.children
    assert prefix.children == "driver_" and (box.type, box.min, box.max) == ("number", 1000, 5000)
    assert box.id == {"page": "eta", "kind": "field", "path": "driver_id"}
    assert fields.numbered(specs["weather"]) is None  # short lists stay dropdowns
    event = REGISTRY["eta"].generate(seed=1).next_event()
    values = fields.from_event(REGISTRY["eta"], event)
    assert values["driver_id"] == int(event["driver_id"].removeprefix("driver_"))
    assert fields.to_event(REGISTRY["eta"], {**values, "driver_id": "1234"})["driver_id"] == (
        "driver_1234"
    )
    assert fields.to_event(REGISTRY["eta"], {**values, "driver_id": None})["driver_id"] is None


def test_a_timestamp_is_a_date_picker_and_a_time_input_joined_in_utc() -> None:
    from dash_app import ids
    from dash_app.components import timestamp_fields as ts

    assert ts.split("2026-01-31T23:30:05-02:00") == ("2026-02-01", "01:30:05")
    assert ts.join("2026-02-01", "01:30:05") == "2026-02-01T01:30:05+00:00"
    assert ts.join("2026-02-01", "01:30") == "2026-02-01T01:30:00+00:00"
    for date, time in ((None, "01:30"), ("2026-02-01", ""), ("2026-02-30", "01:30"),
                       ("2026-02-01", "25:00")):  # fmt: skip
        assert ts.join(date, time) is None, (date, time)
    date, time = ts.controls("eta", "timestamp")
    assert date.id == ids.field_date("eta", "timestamp") and time.type == "time"
    body = fields.form_body("eta", REGISTRY["eta"])
    assert "Timestamp · date" in str(body) and "Timestamp · time" in str(body)


def test_an_incomplete_timestamp_is_named_not_sent() -> None:
    from dash_app.components import form_panel

    domain = REGISTRY["eta"]
    values = fields.from_event(domain, domain.generate(seed=1).next_event())
    values["timestamp@time"] = ""  # what the browser's time input holds while incomplete
    request, problem = form_panel.check(domain, values)
    assert request is None and problem is not None
    assert problem.field == "timestamp" and "complete time" in problem.text()


def test_eta_form_rewrites_distance_estimate_day_and_hour() -> None:
    from dash import no_update

    from dash_app import ids
    from dash_app.components import form_panel

    domain = REGISTRY["eta"]
    values = fields.from_event(domain, domain.generate(seed=2).next_event())
    values.update({"origin.lat": 29.76, "origin.lon": -95.37, "destination.lat": 29.99,
                   "destination.lon": -95.34, "timestamp": "2026-03-07",
                   "timestamp@time": "18:05:00"})  # fmt: skip
    field_ids = [ids.field("eta", path) for path in values if path != "timestamp"]
    new = dict(zip([f["path"] for f in field_ids],
                   form_panel.derived_values(domain, values, field_ids, {"origin.lat"}),
                   strict=True))  # fmt: skip
    assert new["estimated_distance_km"] == 25.74
    assert new["initial_estimated_travel_time_seconds"] == 2316
    assert (new["day_of_week"], new["hour_of_day"]) == (5, 18)
    assert new["driver_rating"] is no_update and new["origin.lat"] is no_update
    settled = {**values, **{k: v for k, v in new.items() if v is not no_update}}
    again = form_panel.derived_values(domain, settled, field_ids, {"estimated_distance_km"})
    assert all(v is no_update for v in again)  # the form settles; a typed value is kept
    typed = {**settled, "estimated_distance_km": 3.0}
    kept = form_panel.derived_values(domain, typed, field_ids, {"estimated_distance_km"})
    assert all(v is no_update for v in kept)


def test_random_coordinates_only_move_the_points() -> None:
    from dash import no_update

    from dash_app import ids
    from dash_app.components import form_panel

    domain = REGISTRY["eta"]
    paths = [p for p, _ in fields.form_fields(domain)]
    assert fields.point_paths(domain) == ["origin.lat", "origin.lon", "destination.lat",
                                          "destination.lon"]  # fmt: skip
    out = form_panel.random_points(1, [ids.field("eta", p) for p in paths])
    moved = {p: v for p, v in zip(paths, out, strict=True) if v is not no_update}
    assert set(moved) == set(fields.point_paths(domain))
    assert all(29.0 < moved[p] < 31.0 for p in ("origin.lat", "destination.lat"))
