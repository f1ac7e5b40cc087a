"""The event forms: built from the domain registry, and form values <-> valid requests."""

from __future__ import annotations

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
        assert request == domain.validate_request({**event, "timestamp": values["timestamp"]}), (
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
    assert "ISO-8601" in fields.hint(specs["timestamp"])
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
