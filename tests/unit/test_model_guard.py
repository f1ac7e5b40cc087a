"""The guard on the live model (coelho.guard): it fires on a deliberately diverging pipeline, a
predict function then answers from the champion and says so, and an unhealthy state is never
promoted, restored or reset to."""

from __future__ import annotations

import doctest
import itertools
import math
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from coelho import features, guard
from coelho.domains import get
from coelho.domains.base import GuardSpec
from coelho.errors import ModelDiverged
from coelho.guard import WINDOW, Health, state_of
from coelho.learning import OnlineModel
from tests.unit.test_predict_contract import call, request_for, service
from tests.unit.test_predict_serving import FakeRedis, trained

WEDNESDAY = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)


def diverging(model: OnlineModel, learning_rate: float = 5.0) -> OnlineModel:
    """Inject a learning rate no linear model survives (and no gradient clipping)."""
    from river import optim

    regressor = list(model.pipeline.steps.values())[-1].regressor
    regressor.optimizer = optim.SGD(learning_rate)
    regressor.clip_gradient = 1e12
    return model


def eta_model(n: int, seed: int = 1) -> tuple[OnlineModel, Any]:
    model = OnlineModel.create("eta")
    events = get("eta").produce(seed=seed, start=WEDNESDAY)
    for event in itertools.islice(events, n):
        model.learn(event)
    return model, events


@pytest.mark.parametrize("module", [guard, features])
def test_the_doctests_run(module: Any) -> None:
    assert doctest.testmod(module).failed == 0


def test_health_verdicts_and_recovery_over_the_window() -> None:
    health = Health(GuardSpec(prediction_range=(0.0, 100.0), tolerance=0.05))
    assert [health.observe(v) for v in (50.0, -1.0, 250.0, math.nan, math.inf)] == [0, 1, 2, 3, 3]
    assert health.state == "diverged" and "not finite" in (health.reason or "")
    for _ in range(WINDOW):
        health.observe(50.0)
    assert health.state == "ok" and health.reason is None
    assert health.totals == {"out_of_range": 1, "far_out": 1, "non_finite": 2}
    for _ in range(10):  # 5 % of the window slightly out: tolerated
        health.observe(-1.0)
    assert health.state == "ok"
    health.observe(-1.0)
    assert health.state == "diverged" and "11 of the last 200" in (health.reason or "")


def test_metric_bounds_against_the_champion() -> None:
    lower = Health(GuardSpec(metric="RollingMAE", max_ratio=3.0))
    lower.check_metric({"RollingMAE": 2_000.0}, {"RollingMAE": 600.0}, 5_000)
    assert lower.state == "degraded" and "over 3x" in (lower.reason or "")
    lower.check_metric({"RollingMAE": 1_700.0}, {"RollingMAE": 600.0}, 5_000)
    assert lower.state == "ok"
    lower.check_metric({"RollingMAE": 9e9}, None, 5_000)  # no champion yet: no verdict
    assert lower.state == "ok"
    lower.check_metric({"RollingMAE": 9e9}, {"RollingMAE": 600.0}, 999)  # window not full
    assert lower.state == "ok"
    higher = Health(GuardSpec(metric="RollingROCAUC", max_drop=0.25, metric_after=5_000))
    higher.check_metric({"RollingROCAUC": 0.0}, {"RollingROCAUC": 0.9}, 4_999)
    assert higher.state == "ok"
    higher.check_metric({"RollingROCAUC": 0.6}, {"RollingROCAUC": 0.9}, 5_000)
    assert higher.state == "degraded" and "below" in (higher.reason or "")


def test_the_guard_fires_on_an_injected_learning_rate() -> None:
    model, events = eta_model(500)
    assert model.health.state == "ok"
    diverging(model)
    learned = 0
    for event in itertools.islice(events, 50):
        model.learn(event)
        learned += 1
        if model.health.state != "ok":
            break
    assert model.health.state == "diverged" and learned <= 10, model.health.describe()
    assert model.health.totals["far_out"] >= 1
    with pytest.raises(ModelDiverged, match="far outside its physical range|not finite"):
        model.predict(get("eta").validate_request(next(events)))
    assert all(math.isfinite(v) for v in model.metric_values().values())


def test_the_verdict_travels_with_the_pickle_and_old_pickles_load_healthy() -> None:
    model, events = eta_model(50)
    diverging(model)
    for event in itertools.islice(events, 20):
        model.learn(event)
    restored = pickle.loads(pickle.dumps(model))
    assert state_of(restored)[0] == "diverged"
    old = pickle.loads(pickle.dumps(model))
    del old.__dict__["health"]
    again = pickle.loads(pickle.dumps(old))
    assert state_of(again) == ("ok", None)


def test_registering_probes_a_model_whose_window_saw_nothing() -> None:
    """A checkpoint pickled before the guard existed (or a model that diverged and then learned
    nothing) looks healthy to the window; the smoke test before registering does not."""
    from coelho.guard import verdict

    model, events = eta_model(50)
    diverging(model)
    for event in itertools.islice(events, 20):
        model.learn(event)
    del model.__dict__["health"]
    old = pickle.loads(pickle.dumps(model))
    assert state_of(old) == ("ok", None)
    state, reason = verdict(old)
    assert state == "diverged" and "a probe request" in (reason or "")
    assert verdict(trained("eta", 200)) == ("ok", None)
    assert verdict(trained("ecci", 200)) == ("ok", None)


def test_a_diverged_live_model_answers_from_the_champion_and_says_why() -> None:
    from prometheus_client import REGISTRY as METRICS

    champion = trained("eta", 200)
    live, events = eta_model(300)
    diverging(live)
    for event in itertools.islice(events, 20):
        live.learn(event)
    assert live.health.state == "diverged"
    fake = FakeRedis()
    fake.put_checkpoint("eta", live, version=12)
    event = request_for("eta")
    before = METRICS.get_sample_value(
        "coelho_predict_fallbacks_total", {"domain": "eta", "state": "diverged"}
    )
    status, body = call(service("eta", fake, {3: champion}), event)
    assert status == 200, body
    assert (body["model"]["source"], body["model"]["version"]) == ("champion", 3)
    fallback = body["model"]["fallback"]
    assert fallback["from"] == "live" and fallback["live_version"] == 12
    assert fallback["state"] == "diverged" and "physical range" in fallback["reason"]
    assert body["eta_seconds"] == pytest.approx(champion.predict(event)["eta_seconds"])
    after = METRICS.get_sample_value(
        "coelho_predict_fallbacks_total", {"domain": "eta", "state": "diverged"}
    )
    assert after == (before or 0) + 1
    status, body = call(service("eta", fake), event)  # no champion: refuse, don't serve 10^12 s
    assert status == 503 and "no champion" in body["message"]
    status, body = call(service("eta", fake, {3: champion}), event, query="?model=3")
    assert status == 200 and "fallback" not in body["model"]


def test_a_healthy_live_model_answers_itself() -> None:
    fake = FakeRedis()
    fake.put_checkpoint("eta", trained("eta", 300), version=4)
    status, body = call(service("eta", fake, {1: trained("eta", 100)}), request_for("eta"))
    assert status == 200 and body["model"]["source"] == "live"
    assert "fallback" not in body["model"]


def test_unhealthy_versions_are_never_promoted() -> None:
    from coelho.registry import Registry, VersionInfo

    tags = {"coelho.events_learned": "900", "coelho.metrics": '{"RollingMAE": 500.0}'}
    healthy = VersionInfo(2, (), 0.0, "r", tags)
    sick = VersionInfo(3, (), 0.0, "r", {**healthy.tags, "coelho.health": "diverged: 3 of ..."})
    assert healthy.healthy and not sick.healthy and sick.health.startswith("diverged")
    registry = Registry.__new__(Registry)  # consider() reads no server for an unhealthy one
    promoted, reason = registry.consider("eta", sick)
    assert not promoted and "diverged" in reason


def test_served_answers_stay_in_the_physical_range() -> None:
    """Extreme but valid requests (schema bounds) give finite answers within range."""
    model = trained("eta", 300)
    request = request_for("eta")
    request["origin"], request["destination"] = (
        {"lat": -90.0, "lon": -180.0},
        {
            "lat": 90.0,
            "lon": 180.0,
        },
    )
    seconds = model.predict(get("eta").validate_request(request))["eta_seconds"]
    assert 0.0 <= seconds <= 86_400.0
    fraud = trained("tfd", 300)
    extreme = request_for("tfd")
    extreme.update(amount=1_000_000.0, account_age_days=36_500)
    probability = fraud.predict(get("tfd").validate_request(extreme))["fraud_probability"]
    assert 0.0 <= probability <= 1.0
