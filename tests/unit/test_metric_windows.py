"""Windowed metrics: River's semantics, bounded memory, and checkpoints that still load."""

from __future__ import annotations

import itertools
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from river import metrics, utils

from coelho.domains import REGISTRY, get
from coelho.learning import OnlineModel
from coelho.windows import SilhouetteWindow, TimeWindow

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def test_time_window_matches_rivers_time_rolling_below_its_cap() -> None:
    ours = TimeWindow(metrics.MAE, period=timedelta(minutes=5), max_events=10_000)
    river = utils.TimeRolling(metrics.MAE, period=timedelta(minutes=5))
    t = datetime(2026, 1, 1)
    for i in range(500):
        t += timedelta(seconds=7 + i % 5)
        ours.update(float(i % 13), float(i % 7), t=t)
        river.update(float(i % 13), float(i % 7), t=t)
        assert ours.get() == pytest.approx(river.get(), rel=1e-12)


def test_time_window_keeps_at_most_max_events_at_any_rate() -> None:
    window = TimeWindow(metrics.MAE, period=timedelta(minutes=5), max_events=100)
    reference = utils.Rolling(metrics.MAE, window_size=100)
    t = datetime(2026, 1, 1)
    for i in range(1_000):  # 1,000 events in 1 s of event time: all inside the period
        t += timedelta(milliseconds=1)
        window.update(float(i), 0.0, t=t)
        reference.update(float(i), 0.0)
    assert len(window._timestamps) == len(window._datum) == 100
    assert window.get() == pytest.approx(reference.get(), rel=1e-12)


def test_silhouette_window_equals_rivers_rolling_silhouette() -> None:
    model = OnlineModel.create("ecci")
    ours = SilhouetteWindow(window_size=200)
    river = utils.Rolling(metrics.Silhouette, window_size=200)
    compared = 0
    for event in itertools.islice(get("ecci").produce(seed=4, start=START), 1_500):
        clusterer = model._clusterer()
        if clusterer.n_clusters > 1:
            x = model.spec.features(event)
            cluster = model.pipeline.predict_one(x)
            x_t = model._transform(x)
            centers = {k: dict(v) for k, v in clusterer.centers.items()}
            ours.update(x_t, cluster, centers)
            river.update(x_t, cluster, centers)
            assert ours.get() == pytest.approx(river.get(), rel=1e-9)
            compared += 1
        model.learn(event)
    assert compared > 500


def test_a_silhouette_window_is_compact_in_a_checkpoint() -> None:
    model = OnlineModel.create("ecci")
    for event in itertools.islice(get("ecci").produce(seed=5, start=START), 2_000):
        model.learn(event)
    compact = len(pickle.dumps(model.metrics["RollingSilhouette"]))
    assert 0 < compact < 60 * 1_000  # River's Rolling(Silhouette) took about 480 KB here


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_time_rolling_metrics_follow_event_time(key: str) -> None:
    model = OnlineModel.create(key)
    # A synthetic clock 100x the seed rate: 5 minutes of event time is a few dozen events.
    events = get(key).produce(seed=6, start=START, time_scale=100.0)
    for event in itertools.islice(events, 1_500):
        model.learn(event)
    timed = [n for n, m in model.metrics.items() if getattr(m, "uses_event_time", False)]
    assert timed, f"{key} has no metric over event time"
    for name in timed:
        window = model.metrics[name]
        inner = window.sums if isinstance(window, SilhouetteWindow) else window
        held = inner._timestamps
        assert 0 < len(held) < 200, name
        assert held[-1] - held[0] <= timedelta(minutes=5)
        assert name in model.metric_values()


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_a_checkpoint_from_before_the_new_metrics_loads_and_scores_them(key: str) -> None:
    model = OnlineModel.create(key)
    events = get(key).produce(seed=7, start=START)
    for event in itertools.islice(events, 1_200):
        model.learn(event)
    added = ("TimeRollingMAE", "RollingSilhouette", "TimeRollingSilhouette")
    old_values = model.metric_values()
    for name in added:
        model.metrics.pop(name, None)
    del model.__dict__["recent_locations"]
    restored = pickle.loads(pickle.dumps(model))
    for name, value in old_values.items():  # the metrics it had keep their values
        if name not in added:
            assert restored.metric_values()[name] == pytest.approx(value)
    for event in itertools.islice(events, 300):
        restored.learn(event)
    expected = {s.name for s in get(key).metric_specs()}
    assert set(restored.metric_values()) == expected


def test_every_reported_value_has_a_spec_and_every_spec_is_reported() -> None:
    for key, domain in REGISTRY.items():
        model = OnlineModel.create(key)
        for event in itertools.islice(domain.produce(seed=8, start=START), 1_500):
            model.learn(event)
        specs = [s.name for s in domain.metric_specs()]
        assert len(specs) == len(set(specs)), key
        assert set(model.metric_values()) == set(specs), key
        for spec in domain.metric_specs():
            assert spec.help and spec.group and spec.formula, (key, spec.name)
            assert spec.docs.startswith("https://riverml.xyz/"), (key, spec.name)


def test_event_time_is_naive_utc() -> None:
    domain = get("eta")
    assert domain.event_time({"timestamp": "2026-01-01T12:00:00+02:00"}) == datetime(
        2026, 1, 1, 10, 0
    )
    assert domain.event_time({"timestamp": "2026-01-01T12:00:00"}) == datetime(2026, 1, 1, 12)
    assert domain.event_time({}) is None
