"""The metrics panel shows every metric a domain's model computes, each with its ⓘ dialog.

The metric names are not listed here: they are what ``OnlineModel.metric_values()`` reports
after learning a stream of the domain's own events, so a metric added to a domain (or a value
the learner starts reporting) fails this test until the page shows a card for it.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from importlib import import_module
from typing import Any

import plotly.graph_objects as go
import pytest
from dash.exceptions import PreventUpdate

from coelho.domains import REGISTRY
from coelho.learning import OnlineModel
from dash_app import ids
from dash_app.clients.problem import Problem
from dash_app.clients.state import ClusterAnalytics, Point
from tests.unit.dash_support import text_of

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


def computed(key: str) -> dict[str, float]:
    """What the domain's model reports after 1,500 of its events (all windows filled)."""
    model = OnlineModel.create(key)
    for event in itertools.islice(REGISTRY[key].produce(seed=11, start=START), 1_500):
        model.learn(event)
    return model.metric_values()


def components(node: Any) -> list[Any]:
    """Every component below ``node`` (depth first)."""
    found = [node]
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found += components(child)
    return found


def ids_in(layout: Any) -> list[Any]:
    return [c.id for c in components(layout) if getattr(c, "id", None) is not None]


@pytest.fixture(scope="module")
def layouts(dash_app_instance: Any) -> dict[str, Any]:
    return {key: import_module(f"dash_app.pages.{key}").layout() for key in REGISTRY}


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_metric_the_model_computes_has_a_card_with_info(
    key: str, layouts: dict[str, Any]
) -> None:
    reported = computed(key)
    assert len(reported) >= 5, reported
    shown = ids_in(layouts[key])
    for name in reported:
        for part in (ids.metric(key, name), ids.metric_part(key, ids.METRIC_VALUE, name),
                     ids.metric_part(key, ids.METRIC_INFO, name)):  # fmt: skip
            assert part in shown, f"{key}: no {part['kind']} for metric {name}"
    cards = [i for i in shown if isinstance(i, dict) and i.get("kind") == ids.METRIC]
    assert sorted(c["metric"] for c in cards) == sorted(reported)


def test_groups_follow_the_seed() -> None:
    from dash_app.components.metrics_panel import groups

    tfd = groups(REGISTRY["tfd"])
    assert list(tfd)[:4] == ["Primary", "Ranking", "Secondary", "Calibration"]
    assert [s.name for s in tfd["Ranking"]] == ["ROCAUC", "RollingROCAUC"]
    assert {s.name for s in REGISTRY["tfd"].metric_specs() if s.gauge} == {
        "MCC",
        "BalancedAccuracy",
    }


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_the_info_dialog_says_formula_range_best_and_links_river(key: str) -> None:
    from dash_app.components import metric_info

    for spec in REGISTRY[key].metric_specs():
        is_open, title, body = metric_info.show(key, spec.name)
        text = text_of(body)
        assert is_open and title == spec.label
        assert spec.help in text and spec.formula in text
        assert metric_info.value_range(spec) in text
        links = [c for c in components(body) if getattr(c, "href", None)]
        assert [a.href for a in links] == [spec.docs]


def test_mcc_dialog_and_gauge_range() -> None:
    from dash_app.components import metric_figures, metric_info

    mcc = next(s for s in REGISTRY["tfd"].metric_specs() if s.name == "MCC")
    assert metric_info.value_range(mcc) == "[-1, 1]" and mcc.optimum == 1.0
    fig = metric_figures.gauge(0.42, mcc)
    assert list(fig.data[0].gauge.axis.range) == [-1.0, 1.0] and fig.data[0].value == 0.42


def test_classification_report_from_confusion_counts() -> None:
    from dash_app.components.metric_figures import classification_report, report_rows

    rows = report_rows({"tp": 8, "fp": 2, "fn": 4, "tn": 86}, ("legit", "fraud"))
    legit, fraud, macro, weighted = rows
    assert fraud["precision"] == pytest.approx(0.8) and fraud["recall"] == pytest.approx(8 / 12)
    assert legit["precision"] == pytest.approx(86 / 90)
    assert legit["recall"] == pytest.approx(86 / 88)
    assert fraud["support"] == 12 and legit["support"] == 88 and macro["support"] == 100
    assert macro["f1"] == pytest.approx((fraud["f1"] + legit["f1"]) / 2)
    assert weighted["recall"] == pytest.approx(0.94)  # = accuracy
    fig = classification_report({"tp": 8, "fp": 2, "fn": 4, "tn": 86}, ("legit", "fraud"))
    assert list(fig.data[0].y) == ["legit", "fraud", "macro avg", "weighted avg"]
    assert [n.text for n in fig.layout.annotations] == ["88", "12", "100", "100"]
    assert fig.data[0].z[1][3] is None  # support is written, not coloured


def test_refresh_fills_cards_gauges_and_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    from dash_app.components import metric_figures, metrics_panel

    now = time.time()
    counts = {"tp": 5.0, "fp": 3.0, "fn": 2.0, "tn": 90.0}
    points = [Point(now - 3 + i, 100 * i, {"ROCAUC": 0.8 + i / 100, "MCC": 0.3, **counts})
              for i in range(3)]  # fmt: skip
    rocauc = next(s for s in REGISTRY["tfd"].metric_specs() if s.name == "ROCAUC")
    long = [Point(now - 600 + i, i, {"ROCAUC": i / 600}) for i in range(601)]
    drawn = metric_figures.sparkline(long, rocauc)["data"][0]["y"]
    assert len(drawn) <= metric_figures.SPARK_POINTS and drawn[-1] == 1.0  # thinned, newest kept
    monkeypatch.setattr(metrics_panel.state, "history", lambda cfg, key: points)
    sparks, values, gauges, extra, note, seen = metrics_panel.refresh_all(
        "tfd", ["ROCAUC", "LogLoss"], ["MCC"], ["confusion", "report"]
    )
    assert sparks[0]["data"][0]["y"] == pytest.approx([0.8, 0.81, 0.82])
    assert not sparks[1]["data"]
    assert "0.8200" in text_of(values[0]) and "▲" in text_of(values[0])
    assert text_of(values[1]) == "—"
    assert gauges[0].data[0].value == 0.3
    assert list(extra[0].data[0].x) == ["predicted legit", "predicted fraud"]
    assert extra[1].data[0].type == "heatmap" and note is None
    # Nothing moved since: nothing is sent again.
    assert metrics_panel.refresh_all("tfd", ["ROCAUC"], ["MCC"], ["confusion"], seen) is None
    with pytest.raises(PreventUpdate):
        metrics_panel.refresh(5, [ids.metric("tfd", "ROCAUC")], [], [],
                              ids.part("tfd", ids.METRICS_SEEN), seen)  # fmt: skip
    points.append(Point(now + 1, 300, {"ROCAUC": 0.83}))
    assert metrics_panel.refresh_all("tfd", ["ROCAUC"], [], [], seen) is not None
    monkeypatch.setattr(metrics_panel.state, "history", lambda cfg, key: Problem("Down", "x"))
    sparks, values, gauges, extra, note, _ = metrics_panel.refresh_all(
        "tfd", ["ROCAUC"], ["MCC"], []
    )
    assert not sparks[0]["data"] and isinstance(gauges[0], go.Figure) and "Down" in text_of(note)


def test_the_location_map_colours_recent_events_by_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dash_app.components import metrics_panel

    recent = ((29.7, -95.3, 0), (29.8, -95.4, 1), (29.75, -95.35, 0))
    found = ClusterAnalytics(3, 1.0, recent=recent)
    monkeypatch.setattr(metrics_panel.state, "history", lambda cfg, key: [])
    monkeypatch.setattr(metrics_panel.state, "analytics", lambda cfg, key: found)
    *_, extra, note, _seen = metrics_panel.refresh_all("ecci", [], [], ["locations"])
    traces = extra[0].data
    assert [t.name for t in traces] == ["cluster 0", "cluster 1"]
    assert list(traces[0].lat) == [29.7, 29.75] and traces[0].type == "scattermap"
    assert "No metric points yet" in text_of(note)


def test_the_model_keeps_a_bounded_trail_of_event_locations() -> None:
    from coelho.learning import RECENT_LOCATIONS

    model = OnlineModel.create("ecci")
    for event in itertools.islice(REGISTRY["ecci"].produce(seed=12, start=START), 1_500):
        model.learn(event)
    assert len(model.recent_locations) == RECENT_LOCATIONS
    lat, lon, cluster = model.recent_locations[-1]
    assert 29 < lat < 31 and -96 < lon < -94 and cluster in model.cluster_counts
