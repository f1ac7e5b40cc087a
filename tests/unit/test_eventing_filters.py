"""Trigger filter matching: every dialect, nesting, missing attributes, filter vs filters."""

from __future__ import annotations

import pytest

from coelho.eventing.filters import matches, matches_attributes, matches_expr, trigger_matches
from coelho.eventing.model import (
    All,
    AnyOf,
    Destination,
    Exact,
    Meta,
    Not,
    Prefix,
    Suffix,
    Trigger,
)

EVENT = {
    "specversion": "1.0",
    "id": "partition:0/offset:7",
    "source": "/apis/v1/namespaces/coelho/kafkasources/tfd#transaction_fraud_detection",
    "type": "dev.knative.kafka.event",
    "domain": "tfd",
    "key": "Card-42",
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (Exact("type", "dev.knative.kafka.event"), True),
        (Exact("type", "dev.knative.kafka"), False),
        (Exact("type", "DEV.KNATIVE.KAFKA.EVENT"), False),  # case-sensitive
        (Exact("domain", "tfd"), True),
        (Exact("domain", "eta"), False),
        (Prefix("type", "dev.knative."), True),
        (Prefix("type", "Dev.knative."), False),
        (Prefix("type", "knative"), False),
        (Prefix("key", "Card-"), True),
        (Suffix("source", "#transaction_fraud_detection"), True),
        (Suffix("source", "#TRANSACTION_FRAUD_DETECTION"), False),
        (Suffix("key", "-42"), True),
        (Suffix("key", "-4"), False),
    ],
)
def test_exact_prefix_suffix_are_case_sensitive(expr: Exact, expected: bool) -> None:
    assert matches_expr(expr, EVENT) is expected


@pytest.mark.parametrize(
    "expr",
    [
        Exact("subject", "x"),
        Prefix("subject", "x"),
        Suffix("subject", "x"),
        Exact("missingext", "x"),
        Prefix("missingext", "x"),
        Suffix("missingext", "x"),
    ],
)
def test_an_attribute_the_event_lacks_never_matches(expr: Exact) -> None:
    assert matches_expr(expr, EVENT) is False
    assert matches_expr(Not(expr), EVENT) is True  # ...so its negation does


def test_all_any_not_and_nesting() -> None:
    yes, no = Exact("domain", "tfd"), Exact("domain", "eta")
    assert matches_expr(All((yes, Prefix("type", "dev."))), EVENT)
    assert not matches_expr(All((yes, no)), EVENT)
    assert matches_expr(AnyOf((no, yes)), EVENT)
    assert not matches_expr(AnyOf((no, Exact("domain", "ecci"))), EVENT)
    assert matches_expr(Not(no), EVENT)
    assert not matches_expr(Not(yes), EVENT)
    assert matches_expr(Not(Not(yes)), EVENT)
    nested = All((AnyOf((no, All((yes, Not(Suffix("key", "-1")))))), Not(AnyOf((no,)))))
    assert matches_expr(nested, EVENT)
    assert not matches_expr(Not(nested), EVENT)


def test_legacy_attributes_are_anded_exact_with_empty_meaning_any() -> None:
    assert matches_attributes({}, EVENT)  # no filter: everything
    assert matches_attributes({"type": "dev.knative.kafka.event", "domain": "tfd"}, EVENT)
    assert not matches_attributes({"type": "dev.knative.kafka.event", "domain": "eta"}, EVENT)
    assert not matches_attributes({"domain": "TFD"}, EVENT)
    assert matches_attributes({"domain": ""}, EVENT)  # any value
    assert not matches_attributes({"missingext": ""}, EVENT)  # an absent extension never
    assert matches_attributes({"subject": ""}, EVENT)  # an absent standard attribute is ""
    assert not matches_attributes({"subject": "x"}, EVENT)


def test_filters_win_over_filter_when_non_empty() -> None:
    legacy = {"domain": "eta"}  # would reject the event
    assert matches(legacy, (Exact("domain", "tfd"),), EVENT)
    assert not matches({"domain": "tfd"}, (Exact("domain", "eta"),), EVENT)
    assert not matches(legacy, (), EVENT)  # empty filters: the legacy filter applies
    assert matches({"domain": "tfd"}, (), EVENT)
    assert matches({}, (), EVENT)


def test_every_filters_element_must_match() -> None:
    both = (Exact("type", "dev.knative.kafka.event"), Exact("domain", "tfd"))
    assert matches({}, both, EVENT)
    assert not matches({}, (*both, Exact("key", "other")), EVENT)


def test_trigger_matches_uses_the_trigger_fields() -> None:
    trigger = Trigger(
        meta=Meta(kind="Trigger", name="learn-tfd", namespace="coelho", file="x.yaml"),
        broker="coelho",
        broker_namespace="coelho",
        subscriber=Destination(uri="http://127.0.0.1:1/"),
        attributes={"domain": "eta"},
        filters=(Exact("type", "dev.knative.kafka.event"), Exact("domain", "tfd")),
    )
    assert trigger_matches(trigger, EVENT)
    assert not trigger_matches(trigger, {**EVENT, "domain": "eta"})
    assert not trigger_matches(trigger, {**EVENT, "type": "coelho.reply"})


def test_matches_expr_rejects_non_expressions() -> None:
    with pytest.raises(TypeError):
        matches_expr("type == x", EVENT)  # type: ignore[arg-type]
