"""Every pipeline learns stably on a stress stream: four weeks of events in shuffled blocks,
the calm regime first, then weekends, rush hours, rare weather, fraud bursts, drift and
extremes (``tests/stress.py``), generated independently of any producer's clock.

The default pipelines must also stay close to themselves trained on the same events in a
uniformly shuffled order. The bounds below are the ones the README states; each was set with
a margin over four seeds (measured values in the comments), and the last test shows the
checks catch the pipeline of issue #9.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from coelho.domains import get
from coelho.learning import OnlineModel
from tests.stress import CLUSTER_EVERY, Stress, learn, paired, rolling, stress_stream

# ETA: every 1,000-trip rolling MAE of the stress run <= 1.25x the shuffled run's on the same
# trips (measured 0.91-0.93); over the whole stream <= 1.10x (0.79-0.82: blocks of one regime
# help an online learner). At most 1 % of raw predictions slightly outside 0..1 day (0.15-0.3 %).
ETA_WINDOW, ETA_MAX_WINDOW_RATIO, ETA_MAX_RATIO, ETA_MAX_OUT = 1_000, 1.25, 1.10, 0.01
# TFD: rolling ROC AUC over 2,000 transactions, once both runs saw 2,000 after the calm prefix
# (the stress run meets its first fraud only after it), at most 0.06 below the shuffled run's
# (worst measured -0.037); over the stream at most 0.03 below (-0.016 to +0.008).
TFD_WINDOW, TFD_MAX_WINDOW_DROP, TFD_MAX_DROP = 2_000, 0.06, 0.03
# ECCI: at least 3 clusters at every check after the calm prefix (measured >= 5), and River's
# Silhouette (lower is better) at most 1.25x the shuffled run's (0.84-1.12).
ECCI_MIN_CLUSTERS, ECCI_MAX_SILHOUETTE_RATIO = 3, 1.25


@pytest.fixture(scope="module")
def streams() -> dict[str, Stress]:
    return {domain: stress_stream(domain, 9_000) for domain in ("tfd", "eta", "ecci")}


def _assert_sane(domain: str, model: OnlineModel, predictions: list[float]) -> None:
    """No prediction is NaN/inf; served answers are within the physical range; the guard
    saw no divergence."""
    low, high = get(domain).guard.prediction_range or (-math.inf, math.inf)
    assert all(math.isfinite(p) for p in predictions)
    assert all(low <= model._clamp(p) <= high for p in predictions)
    assert model.health.totals["far_out"] == model.health.totals["non_finite"] == 0
    assert model.health.state == "ok", model.health.reason


def test_the_stress_streams_have_what_they_promise(streams: dict[str, Stress]) -> None:
    from coelho.domains.eta import is_rush_hour

    eta = streams["eta"]
    calm, rest = eta.events[: eta.calm], eta.events[eta.calm :]
    assert eta.calm == 3_000 and len(eta.events) >= 11_000
    assert not any(e["day_of_week"] >= 5 or is_rush_hour(e["day_of_week"], e["hour_of_day"])
                   or e["weather"] not in ("Clear", "Clouds") for e in calm)  # fmt: skip
    assert {e["day_of_week"] for e in rest} == set(range(7))
    assert sum(is_rush_hour(e["day_of_week"], e["hour_of_day"]) for e in rest) > 1_000
    days = sorted({e["timestamp"][:10] for e in eta.events})
    assert len(days) >= 27  # four weeks of event time
    stamps = [e["timestamp"] for e in rest]
    assert sum(a > b for a, b in zip(stamps, stamps[1:], strict=False)) >= 10  # shuffled blocks
    tfd = streams["tfd"]
    assert not any(e["is_fraud"] for e in tfd.events[: tfd.calm])
    rates = rolling([float(e["is_fraud"]) for e in tfd.events[tfd.calm :]], 200)
    assert max(rates) >= 0.25 and min(rates) <= 0.02  # a 30 % burst and the usual ~1 %
    ecci = streams["ecci"]
    assert {e["event_type"] for e in ecci.events[: ecci.calm]} == {"page_view", "search"}
    assert sorted(map(id, ecci.events)) == sorted(map(id, ecci.shuffled))


def test_eta_default_stays_within_its_bound_of_the_shuffled_stream(
    streams: dict[str, Stress],
) -> None:
    stress = streams["eta"]
    first, second = learn("eta", None, stress.events), learn("eta", None, stress.shuffled)
    _assert_sane("eta", first.model, first.predictions)
    _assert_sane("eta", second.model, second.predictions)
    out = sum(first.model.health.classify(p) != 0 for p in first.predictions)
    assert out <= ETA_MAX_OUT * len(first.predictions)
    keep, aligned = paired(stress, second.predictions)
    eta = get("eta")
    clamp = first.model._clamp
    mine = [abs(eta.label(stress.events[i]) - clamp(first.predictions[i])) for i in keep]
    theirs = [abs(eta.label(stress.events[i]) - clamp(aligned[i])) for i in keep]
    pairs = zip(rolling(mine, ETA_WINDOW), rolling(theirs, ETA_WINDOW), strict=True)
    ratios = [a / b for a, b in pairs]
    assert max(ratios) <= ETA_MAX_WINDOW_RATIO, max(ratios)
    assert sum(mine) / sum(theirs) <= ETA_MAX_RATIO


def test_tfd_default_stays_within_its_bound_of_the_shuffled_stream(
    streams: dict[str, Stress],
) -> None:
    from sklearn.metrics import roc_auc_score

    stress = streams["tfd"]
    first, second = learn("tfd", None, stress.events), learn("tfd", None, stress.shuffled)
    _assert_sane("tfd", first.model, first.predictions)
    _assert_sane("tfd", second.model, second.predictions)
    keep, aligned = paired(stress, second.predictions)
    keep = keep[TFD_WINDOW:]
    truth = [stress.events[i]["is_fraud"] for i in keep]
    mine, theirs = [first.predictions[i] for i in keep], [aligned[i] for i in keep]
    drops = []
    for end in range(TFD_WINDOW, len(truth) + 1, 250):
        y = truth[end - TFD_WINDOW : end]
        if 0 < sum(y) < len(y):
            drops.append(roc_auc_score(y, theirs[end - TFD_WINDOW : end])
                         - roc_auc_score(y, mine[end - TFD_WINDOW : end]))  # fmt: skip
    assert len(drops) >= 10 and max(drops) <= TFD_MAX_WINDOW_DROP, max(drops)
    assert roc_auc_score(truth, theirs) - roc_auc_score(truth, mine) <= TFD_MAX_DROP


def test_ecci_default_keeps_a_useful_segmentation(streams: dict[str, Stress]) -> None:
    stress = streams["ecci"]
    first = learn("ecci", None, stress.events, metrics=True)
    second = learn("ecci", None, stress.shuffled, metrics=True)
    after_calm = first.clusters[stress.calm // CLUSTER_EVERY + 1 :]
    assert min(after_calm) >= ECCI_MIN_CLUSTERS, first.clusters
    assert min(second.clusters[1:]) >= ECCI_MIN_CLUSTERS, second.clusters
    mine = first.model.metric_values()["Silhouette"]
    theirs = second.model.metric_values()["Silhouette"]
    assert mine <= ECCI_MAX_SILHOUETTE_RATIO * theirs, (mine, theirs)
    for center in first.model._clusterer().centers.values():
        assert all(math.isfinite(v) for v in center.values())


@pytest.mark.parametrize(
    ("domain", "name", "size"),
    [("tfd", "arf", 1_000), ("eta", "arf", 1_000), ("ecci", "dbstream-seed", 3_000)],
)
def test_seed_pipelines_learn_stably_on_a_stress_stream(domain: str, name: str, size: int) -> None:
    """The seed's pipelines, on a shorter stream (forests are slow) in the stress order only."""
    stress = stress_stream(domain, size, seed=5, calm=size * 2 // 3)
    run = learn(domain, name, stress.events)
    if get(domain).task == "clustering":
        assert min(run.clusters[stress.calm // CLUSTER_EVERY + 1 :]) >= ECCI_MIN_CLUSTERS
    else:
        _assert_sane(domain, run.model, run.predictions)
        for seed in range(20):  # and a predict function's answer is within range
            answer = run.model.predict(get(domain).validate_request(
                next(get(domain).produce(seed=seed))))  # fmt: skip
            value = next(v for v in answer.values() if isinstance(v, float))
            assert math.isfinite(value)


def _issue_9_eta_linear() -> Any:
    """The ETA default this issue reported: unclipped running z-scores, SGD on minutes."""
    import operator
    from functools import partial

    from river import compose, linear_model, optim

    from coelho.domains.eta import CATEGORICAL, NUMERIC
    from coelho.features import OneHot, Standardize

    encode = (compose.Select(*NUMERIC) | Standardize()) + (compose.Select(*CATEGORICAL) | OneHot())
    regressor = compose.TargetTransformRegressor(
        linear_model.LinearRegression(optimizer=optim.SGD(0.01), intercept_lr=0.05),
        func=partial(operator.mul, 1 / 60),
        inverse_func=partial(operator.mul, 60),
    )
    return encode | regressor


def test_the_checks_catch_the_pipeline_of_issue_9(streams: dict[str, Stress]) -> None:
    model = OnlineModel("eta", "linear", _issue_9_eta_linear(), {})
    predictions = []
    for event in streams["eta"].events:
        model.learn(event)
        predictions.append(model.last_prediction)
    assert model.health.state == "diverged"
    assert model.health.totals["far_out"] > 100
    calm = streams["eta"].calm
    assert max(abs(p) for p in predictions[:calm]) < 86_400  # fine until the first regime change
