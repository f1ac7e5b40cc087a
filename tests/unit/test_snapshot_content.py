"""What a snapshot run carries besides the model: the curve's last point, tags, JSON reports.

The Redis side and the round trip through MLflow: tests/integration/test_learning_curve.py.
"""

from __future__ import annotations

import doctest
import json
import re
from types import ModuleType

import pytest
import redis

from coelho import domains, snapshot_content
from coelho.domains import reports
from coelho.learning import OnlineModel
from coelho.snapshot_content import build, covered
from coelho.state import curve
from coelho.state.curve import Base, CurveRecorder, Pending, Point, event_time_ms


@pytest.mark.parametrize("module", [reports, snapshot_content, curve])
def test_doctests(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


def _trained(key: str, n: int) -> OnlineModel:
    model = OnlineModel.create(key)
    events = domains.get(key).produce(seed=3)
    for offset in range(n):
        model.learn(next(events), (domains.get(key).topic, 0, offset))
    return model


@pytest.mark.parametrize("key", sorted(domains.REGISTRY))
def test_every_domains_reports_are_plain_json_named_as_files(key: str) -> None:
    """The contract of ``Domain.reports``: JSON-able values under file-safe names."""
    model = _trained(key, 150)
    made = domains.get(key).reports(model)
    assert json.loads(json.dumps(made)) == made
    assert all(re.fullmatch(r"[a-z_]+", name) for name in made), list(made)


@pytest.mark.parametrize("key", [k for k, d in domains.REGISTRY.items() if d.task == "binary"])
def test_a_classifier_reports_its_confusion_matrix_as_its_metrics_see_it(key: str) -> None:
    model = _trained(key, 400)
    made = domains.get(key).reports(model)
    counts = made["confusion_matrix"]["counts"]
    assert sum(map(sum, made["confusion_matrix"]["matrix"])) == 400  # each event scored once
    values = model.metric_values()
    assert counts == {name: int(values[name]) for name in ("tn", "fp", "fn", "tp")}
    fraud = made["classification_report"][made["confusion_matrix"]["labels"][1]]
    assert fraud["recall"] == pytest.approx(values["Recall"], abs=1e-6)
    assert fraud["precision"] == pytest.approx(values["Precision"], abs=1e-6)
    assert fraud["f1"] == pytest.approx(values["F1"], abs=1e-6)


@pytest.mark.parametrize("key", [k for k, d in domains.REGISTRY.items() if d.task == "clustering"])
def test_a_clusterer_reports_counts_and_profiles_of_its_clusters(key: str) -> None:
    model = _trained(key, 300)
    made = domains.get(key).reports(model)
    clusters = made["cluster_counts"]["clusters"]
    assert {c["cluster"]: c["events"] for c in clusters} == dict(model.cluster_counts)
    assert sum(c["share"] for c in clusters) == pytest.approx(1.0, abs=1e-4)
    assert set(made["cluster_profiles"]) == {str(c["cluster"]) for c in clusters}


def test_the_run_ends_at_exactly_the_state_at_the_checkpoints_event_time() -> None:
    model = _trained("eta", 120)
    waiting = Pending(Base("L", 40, {}, "run-before", "2"),
                      [Point(50, 5_000, {"MAE": 1.0}), Point(100, 10_000, {"MAE": 2.0}),
                       Point(120, 12_000, {"MAE": 9.0})])  # fmt: skip
    content = build("eta", model, waiting, 12_345, saved_at=1.0)
    assert [(p.events_learned, p.timestamp_ms) for p in content.points] == [
        (50, 5_000), (100, 10_000), (120, 12_345)
    ]  # fmt: skip
    assert content.points[-1].metrics == model.metric_values()  # the state's, not the writer's
    assert content.tags == {"coelho.curve_from": "40", "coelho.curve_points": "3",
                            "coelho.lineage": "L", "coelho.previous_run": "run-before"}  # fmt: skip
    metrics = content.metrics()
    assert {(m.key, m.step) for m in metrics} >= {("MAE", 50), ("MAE", 120)}
    assert "reports/kafka_offsets.json" in content.documents


def test_without_a_waiting_curve_the_run_holds_the_state_alone() -> None:
    model = _trained("eta", 30)
    content = build("eta", model, None, None, saved_at=1700000000.5)
    assert [(p.events_learned, p.timestamp_ms) for p in content.points] == [(30, 1700000000500)]
    offsets = covered(Base(), model)
    assert offsets["events_learned"] == {"after": 0, "through": 30}
    assert offsets["partitions"][0]["after"] is None and offsets["previous_run"] is None


def test_a_point_is_due_at_the_first_event_and_every_multiple() -> None:
    recorder = CurveRecorder(redis.Redis(), "eta", every=25, max_points=10)  # connects lazily
    due = [n for n in range(1, 101) if recorder.due(n)]
    assert due == [1, 25, 50, 75, 100]


def test_event_time_ignores_what_is_no_timestamp() -> None:
    assert event_time_ms("tfd", {"timestamp": "2024-05-06T08:00:00"}) == 1714982400000  # UTC
    assert event_time_ms("tfd", {"timestamp": "yesterday"}) is None
    assert event_time_ms("tfd", {}) is None
