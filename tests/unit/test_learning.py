"""Prequential order: every event is scored by a model that has not learned it yet."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from coelho.domains import get
from coelho.learning import OnlineModel

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_metric_sees_the_prediction_made_before_learning() -> None:
    events = list(itertools.islice(get("eta").produce(seed=1, start=START), 50))
    model = OnlineModel.create("eta")
    reference = OnlineModel.create("eta")
    errors = []
    for event in events:
        before = reference.predict(event)["eta_seconds"]
        errors.append(abs(event["simulated_actual_travel_time_seconds"] - before))
        reference.learn(event)
        model.learn(event)
    assert model.metric_values()["MAE"] == pytest.approx(sum(errors) / len(errors), rel=1e-12)


def test_learn_records_kafka_offsets_per_partition() -> None:
    model = OnlineModel.create("tfd")
    events = get("tfd").produce(seed=2, start=START)
    for partition, offset in [(0, 5), (1, 3), (0, 6), (1, 2)]:
        model.learn(next(events), ("transaction_fraud_detection", partition, offset))
    assert model.offsets == {"transaction_fraud_detection": {0: 6, 1: 3}}


def test_clustering_tracks_cluster_counts_and_profiles() -> None:
    model = OnlineModel.create("ecci")
    for event in itertools.islice(get("ecci").produce(seed=3, start=START), 2_000):
        model.learn(event)
    values = model.metric_values()
    assert values["n_clusters"] >= 2
    assert sum(model.cluster_counts.values()) > 1_000
    some_cluster = next(iter(model.cluster_profiles.values()))
    assert "event_type" in some_cluster


def test_metric_values_have_no_negative_zero() -> None:
    """ROC AUC before the first fraud is -0.0 in River; status and charts should say 0."""
    import math

    model = OnlineModel.create("tfd")
    legit = (e for e in get("tfd").produce(seed=1, start=START) if not e["is_fraud"])
    for event in itertools.islice(legit, 50):
        model.learn(event)
    assert all(math.copysign(1.0, v) > 0 for v in model.metric_values().values())
