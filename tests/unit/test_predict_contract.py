"""The predict function's HTTP contract per domain: shapes, every field validated, 4xx/5xx."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask import Flask

from coelho.domains import REGISTRY, get
from coelho.handlers.predict import PredictService
from coelho.serving import LiveSource, RegistrySource, Selector, Served
from coelho.settings import Settings
from tests.helpers import same_prediction
from tests.unit.test_predict_serving import KEY, FakeRedis, trained

APP = Flask(__name__)
SHAPES = {
    "tfd": {"fraud_probability": float, "is_fraud": bool},
    "eta": {"eta_seconds": float, "eta_minutes": float},
    "ecci": {"cluster": int, "n_clusters": int},
}


def service(domain: str, fake: FakeRedis, registry: dict[int, Any] | None = None) -> Any:
    svc = PredictService(domain, Settings.from_env())
    svc.live = LiveSource(fake, domain, KEY, staleness=0.0)  # type: ignore[arg-type]
    versions = registry or {}

    def loader(key: str, selector: Selector) -> Served:
        from coelho.errors import ModelNotReady
        from coelho.serving import ModelNotFound

        if selector.source == "version":
            if selector.version not in versions:
                raise ModelNotFound(f"{key}-river has no version {selector.version}")
            return Served(versions[selector.version], "version", selector.version, 5.0)
        if not versions:
            raise ModelNotReady(f"{key}-river has no {selector.source} version yet")
        return Served(versions[max(versions)], selector.source, max(versions), 5.0)

    svc.registry = RegistrySource(domain, KEY, loader=loader)
    return svc


def call(svc: Any, body: Any, *, query: str = "", headers: dict[str, str] | None = None) -> Any:
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    with APP.test_request_context(f"/{query}", method="POST", data=data, headers=headers or {}):
        from flask import request

        result = svc.handle(request)
    status = result[1]
    return status, json.loads(result[0]) if result[0] else None


def request_for(domain: str, seed: int = 5) -> dict[str, Any]:
    """A predict request: the event's feature and context fields only."""
    event = next(get(domain).produce(seed=seed))
    return get(domain).validate_request(event)


@pytest.fixture(params=sorted(REGISTRY))
def domain(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_answer_has_the_domain_shape_and_the_model_provenance(domain: str) -> None:
    fake = FakeRedis()
    model = trained(domain, 120)
    fake.put_checkpoint(domain, model, version=3)
    status, body = call(service(domain, fake), request_for(domain))
    assert status == 200, body
    for name, kind in SHAPES[domain].items():
        assert isinstance(body[name], kind), (name, body)
    assert body["model"]["source"] == "live"
    assert body["model"]["version"] == 3
    assert body["model"]["updated_at"].endswith("+00:00")
    assert body["model"]["events_learned"] == 120
    expected = model.predict(request_for(domain))
    assert same_prediction({k: body[k] for k in expected}, expected)


def test_503_with_a_clear_message_until_a_model_exists(domain: str) -> None:
    svc = service(domain, FakeRedis())
    status, body = call(svc, request_for(domain))
    assert status == 503
    assert body["error"] == "ModelNotReady"
    assert f"no model for {domain} yet" in body["message"]
    with APP.test_request_context("/health/readiness"):
        from flask import request

        ready = svc.handle(request)
    assert ready[1] == 503


def leaf_paths(domain: str) -> list[tuple[str, Any]]:
    return [(path, spec) for path, spec in get(domain).leaf_fields()
            if spec.role in ("feature", "context")]  # fmt: skip


def _delete(event: dict[str, Any], path: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        event = event[part]
    del event[leaf]


def _set(event: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        event = event[part]
    event[leaf] = value


def test_every_field_is_validated_and_named_in_the_400(domain: str) -> None:
    fake = FakeRedis()
    fake.put_checkpoint(domain, trained(domain, 30), version=1)
    svc = service(domain, fake)
    good = request_for(domain)
    checked = 0
    for path, spec in leaf_paths(domain):
        wrong_type: Any = "text" if spec.kind in ("int", "float", "bool") else 12345
        cases = [wrong_type]
        if not spec.nullable:
            cases.append(None)
        if spec.choices:
            cases.append("not-a-choice")
        if spec.maximum is not None:
            cases.append(spec.maximum + 1)
        for value in cases:
            event = copy.deepcopy(good)
            _set(event, path, value)
            status, body = call(svc, event)
            assert (status, body.get("field")) == (400, path), (path, value, body)
            checked += 1
        if not spec.nullable:
            event = copy.deepcopy(good)
            _delete(event, path)
            status, body = call(svc, event)
            assert (status, body["field"]) == (400, path), (path, "missing", body)
            assert "is required" in body["message"]
    assert checked >= len(leaf_paths(domain)) * 2


@pytest.mark.parametrize(
    ("body", "field"),
    [(b"", "body"), (b"{not json", "body"), ([1, 2], "data"), ('"text"', "data")],
)
def test_a_body_that_is_not_an_event_object_is_a_400(body: Any, field: str) -> None:
    fake = FakeRedis()
    fake.put_checkpoint("tfd", trained("tfd", 20), version=1)
    status, answer = call(service("tfd", fake), body)
    assert (status, answer["field"]) == (400, field), answer


def test_ids_labels_and_unknown_fields_are_ignored() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("tfd", trained("tfd", 20), version=1)
    full = next(get("tfd").produce(seed=3))
    full["unexpected"] = {"x": 1}
    status, body = call(service("tfd", fake), full)
    assert status == 200, body


def test_source_selection_by_query_and_header() -> None:
    fake = FakeRedis()
    live = trained("eta", 50)
    fake.put_checkpoint("eta", live, version=9)
    registered = {1: trained("eta", 20, seed=1), 2: trained("eta", 30, seed=2)}
    svc = service("eta", fake, registered)
    event = request_for("eta")
    cases = [
        ("", {}, ("live", 9), live),
        ("?model=champion", {}, ("champion", 2), registered[2]),
        ("?model=1", {}, ("version", 1), registered[1]),
        ("?version=2", {}, ("version", 2), registered[2]),
        ("", {"X-Coelho-Model": "version=1"}, ("version", 1), registered[1]),
        ("?model=live", {"X-Coelho-Model": "1"}, ("live", 9), live),  # the query wins
    ]
    for query, headers, (source, version), model in cases:
        status, body = call(svc, event, query=query, headers=headers)
        assert status == 200, (query, headers, body)
        assert (body["model"]["source"], body["model"]["version"]) == (source, version)
        assert same_prediction({"eta_seconds": body["eta_seconds"]},
                               {"eta_seconds": model.predict(event)["eta_seconds"]})  # fmt: skip


def test_unknown_version_is_404_bad_selector_400_and_no_champion_503() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("tfd", trained("tfd", 20), version=1)
    event = request_for("tfd")
    status, body = call(service("tfd", fake, {1: trained("tfd", 10)}), event, query="?model=7")
    assert (status, body["error"]) == (404, "ModelNotFound")
    status, body = call(service("tfd", fake), event, query="?model=best")
    assert (status, body["field"]) == (400, "model")
    status, body = call(service("tfd", fake), event, query="?model=champion")
    assert (status, body["error"]) == (503, "ModelNotReady")


def test_requests_are_counted_by_source_and_code() -> None:
    from prometheus_client import REGISTRY as METRICS

    def count(source: str, code: str) -> float:
        value = METRICS.get_sample_value(
            "coelho_predict_requests_total", {"domain": "ecci", "source": source, "code": code}
        )
        return value or 0.0

    fake = FakeRedis()
    fake.put_checkpoint("ecci", trained("ecci", 100), version=1)
    svc = service("ecci", fake)
    before_ok, before_bad = count("live", "200"), count("live", "400")
    call(svc, request_for("ecci"))
    call(svc, {"nope": 1})
    assert count("live", "200") == before_ok + 1
    assert count("live", "400") == before_bad + 1
