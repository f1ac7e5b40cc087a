"""Predict functions as processes: live model, hot reload, 503 until a model, registry sources."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.integration.conftest import Checkpoints, predict_request, trained

WAIT = 30.0


def same(answer: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Equal answers, floats to 1e-9 (summation order differs across processes)."""
    return {k: answer[k] for k in expected} == pytest.approx(expected, rel=1e-9, abs=1e-12)


def post(base: str, body: Any, **kwargs: Any) -> requests.Response:
    return requests.post(f"{base}/", json=body, timeout=30, **kwargs)


def wait_for_version(base: str, domain: str, version: int) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT
    while True:
        answer = post(base, predict_request(domain)).json()
        if answer.get("model", {}).get("version") == version:
            return dict(answer)
        if time.monotonic() > deadline:
            raise AssertionError(f"still serving {answer} after {WAIT} s, wanted v{version}")
        time.sleep(0.1)


def metric(base: str, name: str, labels: dict[str, str]) -> float | None:
    from prometheus_client.parser import text_string_to_metric_families

    text = requests.get(f"{base}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


@pytest.mark.parametrize("domain", ["tfd", "eta", "ecci"])
def test_live_model_is_served_and_hot_reloaded_when_the_state_moves(
    domain: str, checkpoints: Checkpoints, spawn_function: Any
) -> None:
    first, second = trained(domain, 150), trained(domain, 400)
    assert checkpoints.save(domain, first) == 1
    base = spawn_function(f"predict-{domain}", ready="/health/readiness")
    answer = post(base, predict_request(domain)).json()
    assert answer["model"]["version"] == 1 and answer["model"]["source"] == "live"
    expected = first.predict(predict_request(domain))
    assert same(answer, expected)
    assert checkpoints.save(domain, second) == 2
    answer = wait_for_version(base, domain, 2)
    expected = second.predict(predict_request(domain))
    assert same(answer, expected)
    assert answer["model"]["events_learned"] == 400
    labels = {"domain": domain, "source": "live"}
    assert metric(base, "coelho_model_version_served", labels) == 2.0
    assert metric(base, "coelho_model_reloads_total", labels) == 2.0
    ok = metric(base, "coelho_predict_requests_total", {**labels, "code": "200"})
    assert ok is not None and ok >= 2
    assert metric(base, "coelho_predict_latency_seconds_count", labels) == ok


def test_big_models_are_reloaded_in_the_background(
    checkpoints: Checkpoints, spawn_function: Any
) -> None:
    checkpoints.save("eta", trained("eta", 100))
    base = spawn_function(
        "predict-eta", {"COELHO_PREDICT_INLINE_RELOAD_BYTES": "1"}, ready="/health/readiness"
    )
    checkpoints.save("eta", trained("eta", 300))
    answer = wait_for_version(base, "eta", 2)
    assert answer["model"]["events_learned"] == 300


def test_503_until_a_model_exists_then_ready(checkpoints: Checkpoints, spawn_function: Any) -> None:
    base = spawn_function("predict-tfd")
    response = post(base, predict_request("tfd"))
    assert response.status_code == 503
    assert response.json()["error"] == "ModelNotReady"
    assert "no model for tfd yet" in response.json()["message"]
    assert requests.get(f"{base}/health/readiness", timeout=10).status_code == 503
    assert requests.get(f"{base}/health/liveness", timeout=10).status_code == 200
    checkpoints.save("tfd", trained("tfd", 50))
    assert wait_for_version(base, "tfd", 1)["model"]["events_learned"] == 50
    assert requests.get(f"{base}/health/readiness", timeout=10).status_code == 200


def test_invalid_requests_name_the_field(checkpoints: Checkpoints, spawn_function: Any) -> None:
    checkpoints.save("eta", trained("eta", 50))
    base = spawn_function("predict-eta", ready="/health/readiness")
    event = predict_request("eta")
    event["origin"]["lat"] = "north"
    response = post(base, event)
    assert response.status_code == 400
    assert response.json()["field"] == "origin.lat"
    response = requests.post(f"{base}/", data=b"{", timeout=10)
    assert (response.status_code, response.json()["field"]) == (400, "body")
    response = post(base, predict_request("eta"), params={"model": "nope"})
    assert (response.status_code, response.json()["field"]) == (400, "model")


def test_registry_sources_champion_and_pinned_versions(
    checkpoints: Checkpoints, spawn_function: Any, registry: Any, mlflow_server: str
) -> None:
    from coelho.registry import shared

    checkpoints.save("tfd", trained("tfd", 500))
    base = spawn_function(
        "predict-tfd", {"MLFLOW_TRACKING_URI": mlflow_server}, ready="/health/readiness"
    )
    response = post(base, predict_request("tfd"), params={"model": "champion"})
    assert response.status_code == 503 and "no champion version" in response.json()["message"]
    v1, v2 = trained("tfd", 300, seed=1), trained("tfd", 600, seed=2)
    reg = shared(mlflow_server)
    key = b"coelho-test-state-key"
    first = reg.publish("tfd", v1, 1, time.time(), key)
    second = reg.publish("tfd", v2, 2, time.time(), key)
    reg.promote("tfd", first.version, "test")
    answer = post(base, predict_request("tfd"), headers={"X-Coelho-Model": "champion"}).json()
    assert (answer["model"]["source"], answer["model"]["version"]) == ("champion", 1)
    assert same(answer, v1.predict(predict_request("tfd")))
    answer = post(base, predict_request("tfd"), params={"model": str(second.version)}).json()
    assert (answer["model"]["source"], answer["model"]["version"]) == ("version", 2)
    assert answer["model"]["events_learned"] == 600
    assert same(answer, v2.predict(predict_request("tfd")))
    answer = post(base, predict_request("tfd"), params={"model": "latest"}).json()
    assert answer["model"]["version"] == 2
    response = post(base, predict_request("tfd"), params={"model": "99"})
    assert response.status_code == 404 and "no version 99" in response.json()["message"]
    live = post(base, predict_request("tfd")).json()
    assert (live["model"]["source"], live["model"]["events_learned"]) == ("live", 500)
