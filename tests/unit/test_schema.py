"""Every field of every domain is validated, and errors name the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from coelho.domains import REGISTRY, Domain
from coelho.errors import InvalidEvent

DOMAINS = list(REGISTRY.values())


def _event(domain: Domain) -> dict[str, Any]:
    return domain.generate(seed=11).next_event()


def _paths(domain: Domain) -> list[str]:
    return [path for path, _ in domain.leaf_fields()]


def _set(event: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        event = event[part]
    event[leaf] = value


def _delete(event: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        event = event[part]
    del event[leaf]


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.key)
def test_generated_events_validate(domain: Domain) -> None:
    gen = domain.generate(seed=3)
    for _ in range(500):
        event = gen.next_event()
        assert domain.validate(event) == event


@pytest.mark.parametrize(
    ("domain", "path"),
    [(d, p) for d in DOMAINS for p in _paths(d)],
    ids=lambda v: v.key if isinstance(v, Domain) else v,
)
def test_missing_or_mistyped_field_is_named(domain: Domain, path: str) -> None:
    spec = dict(domain.leaf_fields())[path]
    event = _event(domain)
    missing = copy.deepcopy(event)
    _delete(missing, path)
    if spec.nullable:
        assert domain.validate(missing) is not None
    else:
        with pytest.raises(InvalidEvent) as missing_error:
            domain.validate(missing)
        assert missing_error.value.field == path
        assert "required" in missing_error.value.reason
    wrong = copy.deepcopy(event)
    _set(wrong, path, [1, 2] if spec.kind != "object" else "x")
    with pytest.raises(InvalidEvent) as type_error:
        domain.validate(wrong)
    assert type_error.value.field == path
    assert "expected" in type_error.value.reason


@pytest.mark.parametrize(
    ("domain", "path"),
    [(d, p) for d in DOMAINS for p, s in d.leaf_fields() if s.choices or s.maximum is not None],
    ids=lambda v: v.key if isinstance(v, Domain) else v,
)
def test_out_of_range_or_unknown_choice_is_named(domain: Domain, path: str) -> None:
    spec = dict(domain.leaf_fields())[path]
    event = _event(domain)
    _set(event, path, "not-a-choice" if spec.choices else (spec.maximum or 0) + 1)
    with pytest.raises(InvalidEvent) as error:
        domain.validate(event)
    assert error.value.field == path


def test_non_object_payload_and_bool_for_int_are_rejected() -> None:
    tfd = REGISTRY["tfd"]
    with pytest.raises(InvalidEvent, match="data: expected object"):
        tfd.validate([1, 2])
    event = _event(tfd)
    event["account_age_days"] = True
    with pytest.raises(InvalidEvent, match="account_age_days: expected integer, got boolean"):
        tfd.validate(event)
    event = _event(tfd)
    event["amount"] = float("nan")
    with pytest.raises(InvalidEvent, match="amount: must be a finite number"):
        tfd.validate(event)
    event = _event(tfd)
    event["timestamp"] = "yesterday"
    with pytest.raises(InvalidEvent, match="timestamp: not an ISO-8601"):
        tfd.validate(event)


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.key)
def test_predict_requests_need_no_ids_targets_or_debug_fields(domain: Domain) -> None:
    event = _event(domain)
    request = {f.name: event[f.name] for f in domain.fields if f.role in ("feature", "context")}
    assert domain.validate_request(request) == request
