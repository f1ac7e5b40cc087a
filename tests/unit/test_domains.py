"""Domain registry contract: producers, features, pipelines, metrics."""

from __future__ import annotations

import itertools
import pickle
import statistics
from datetime import UTC, datetime

import pytest

from coelho.domains import REGISTRY, Domain, get
from coelho.domains.eta import haversine_km
from coelho.errors import UnknownDomain
from coelho.learning import OnlineModel
from tests.helpers import same_prediction

DOMAINS = list(REGISTRY.values())
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
DEBUG_FIELDS = ("debug_traffic_factor", "debug_weather_factor", "debug_incident_delay_seconds",
                "debug_driver_factor")  # fmt: skip


def test_registry_has_the_seed_topics() -> None:
    assert {d.key: d.topic for d in DOMAINS} == {
        "tfd": "transaction_fraud_detection",
        "eta": "estimated_time_of_arrival",
        "ecci": "e_commerce_customer_interactions",
    }
    with pytest.raises(UnknownDomain, match="expected one of"):
        get("sales")


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.key)
def test_same_seed_same_stream(domain: Domain) -> None:
    first = list(itertools.islice(domain.produce(seed=5, start=START), 200))
    second = list(itertools.islice(domain.produce(seed=5, start=START), 200))
    other = list(itertools.islice(domain.produce(seed=6, start=START), 200))
    assert first == second
    assert first != other


@pytest.mark.parametrize("domain", DOMAINS, ids=lambda d: d.key)
def test_seed_rate_matches_the_generator_pacing(domain: Domain) -> None:
    gen = domain.generate(seed=1)
    mean = statistics.fmean(gen.next_interval() for _ in range(20_000))
    assert mean == pytest.approx(1 / domain.seed_rate, rel=0.05)


def test_tfd_fraud_rate_and_drift() -> None:
    tfd = get("tfd")
    normal = list(itertools.islice(tfd.produce(seed=2, start=START), 40_000))
    drifted = list(itertools.islice(tfd.produce(seed=2, drift_after=0, start=START), 40_000))
    rate = statistics.fmean(e["is_fraud"] for e in normal)
    assert 0.008 < rate < 0.012
    assert statistics.fmean(e["is_fraud"] for e in drifted) > 2 * rate
    big = [e["amount"] > 300 for e in normal if e["is_fraud"]]
    big_drifted = [e["amount"] > 300 for e in drifted if e["is_fraud"]]
    assert statistics.fmean(big) > 0.6 > statistics.fmean(big_drifted)


def test_eta_distance_is_haversine_and_debug_fields_are_not_features() -> None:
    eta = get("eta")
    for event in itertools.islice(eta.produce(seed=4, start=START), 200):
        distance = haversine_km(event["origin"], event["destination"])
        assert event["estimated_distance_km"] == round(distance, 2)
        tampered = {**event, **{name: 99 for name in DEBUG_FIELDS}}
        assert eta.features(tampered) == eta.features(event)
    assert {f.name for f in eta.fields if f.role == "debug"} == set(DEBUG_FIELDS)


def test_ecci_sessions_continue_and_nullable_fields_follow_event_type() -> None:
    events = list(itertools.islice(get("ecci").produce(seed=8, start=START), 5_000))
    sequences = [e["session_event_sequence"] for e in events]
    assert max(sequences) > 3
    for e in events:
        assert (e["search_query"] is None) == (e["event_type"] != "search")
        assert (e["quantity"] is not None) == (e["event_type"] in ("add_to_cart", "purchase"))
        assert (e["referrer_url"] is not None) == (e["session_event_sequence"] == 1)


@pytest.mark.parametrize(
    ("domain", "model"),
    [(d, m) for d in DOMAINS for m in d.models],
    ids=[f"{d.key}-{m}" for d in DOMAINS for m in d.models],
)
def test_every_model_learns_pickles_and_predicts_the_same(domain: Domain, model: str) -> None:
    online = OnlineModel.create(domain.key, model)
    events = list(itertools.islice(domain.produce(seed=9, start=START), 300))
    online.predict(events[0])  # an untrained model answers too
    for event in events[:250]:
        online.learn(event)
    clone = pickle.loads(pickle.dumps(online))
    for event in events[250:]:
        assert same_prediction(clone.predict(event), online.predict(event))
    assert online.events_learned == 250
    assert set(online.metric_values()) >= {domain.headline_metric} or domain.task == "clustering"
