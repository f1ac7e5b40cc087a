"""Result visuals of the domain pages and the home cards, called as plain functions.

Figures are checked as data (traces, values, bands), which is what the browser then draws.
"""

from __future__ import annotations

from typing import Any

import pytest

from coelho.domains import REGISTRY
from dash_app.clients.problem import Problem
from dash_app.clients.state import ClusterAnalytics
from dash_app.config import DashConfig
from tests.unit.dash_support import text_of

pytestmark = pytest.mark.usefixtures("dash_app_instance")


@pytest.mark.parametrize(
    ("probability", "band"),
    [(0.0, "LOW"), (0.2999, "LOW"), (0.30, "MEDIUM"), (0.6999, "MEDIUM"), (0.70, "HIGH"),
     (1.0, "HIGH")],
)  # fmt: skip
def test_fraud_risk_bands(probability: float, band: str) -> None:
    from dash_app.components import figures

    assert figures.risk(probability)[0] == band


def test_tfd_result_gauge_and_verdict() -> None:
    from dash_app.pages import tfd

    gauge, verdict = tfd.render({"response": {"fraud_probability": 0.82, "is_fraud": True}})
    assert gauge.data[0].value == 82.0
    assert [s["range"] for s in gauge.data[0].gauge.steps] == [(0, 30), (30, 70), (70, 100)]
    assert "FRAUD" in text_of(verdict) and "HIGH risk" in text_of(verdict)
    _gauge, verdict = tfd.render({"response": {"fraud_probability": 0.1, "is_fraud": False}})
    assert "NOT FRAUD" in text_of(verdict)
    empty, none = tfd.render(None)
    assert none is None and not empty.data
    broken, text = tfd.render({"response": {"cluster": 1}})
    assert not broken.data and "cluster" in text_of(text)


def test_eta_map_route_and_numbers() -> None:
    from dash_app.pages import eta

    fig, text = eta.render_trip(29.7, -95.4, 29.9, -95.1)
    route, origin, destination = fig.data
    assert list(route.lat) == [29.7, 29.9] and list(route.lon) == [-95.4, -95.1]
    assert (origin.name, destination.name) == ("origin", "destination")
    assert fig.layout.map.style == "white-bg"
    assert "km" in text_of(text) and "40 km/h" in text_of(text)
    blank, none = eta.render_trip(29.7, None, 29.9, -95.1)
    assert none is None and not blank.data
    numbers = eta.render_eta({"response": {"eta_seconds": 900.0, "eta_minutes": 15.0}})
    assert [t.value for t in numbers.data] == [900.0, 15.0]


def test_map_tiles_are_an_optional_layer_under_the_route() -> None:
    from dash_app.components import figures

    origin, destination = {"lat": 29.7, "lon": -95.4}, {"lat": 29.9, "lon": -95.1}
    with_tiles = figures.trip_map(origin, destination, "https://tiles.example/{z}/{x}/{y}.png")
    (layer,) = with_tiles.layout.map.layers
    assert layer.sourcetype == "raster" and layer.below == "traces"
    assert not figures.trip_map(origin, destination, "").layout.map.layers
    near = figures.zoom_for(origin, {"lat": 29.71, "lon": -95.41})
    assert near > figures.zoom_for(origin, destination)


def test_ecci_behaviour_of_the_predicted_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    from dash_app.pages import ecci

    found = ClusterAnalytics(
        4,
        counts={0: 10, 1: 5},
        profiles={1: {"event_type": {"page_view": 4, "purchase": 1}}},
    )
    monkeypatch.setattr(ecci.state, "analytics", lambda cfg, key: found)
    line, fig, text = ecci.render({"response": {"cluster": 1, "n_clusters": 2}}, "event_type")
    assert "1" in text_of(line) and "of 2" in text_of(line)
    assert list(fig.data[0].x) == ["page_view", "purchase"] and list(fig.data[0].y) == [4, 1]
    assert "80%" in text and "page_view" in text
    samples, distribution, note = ecci.refresh_analytics(1, "event_type")
    assert list(samples.data[0].y) == [10, 5]
    assert distribution.data[0].name == "cluster 1"
    assert "version 4" in text_of(note)
    monkeypatch.setattr(ecci.state, "analytics", lambda cfg, key: Problem("Redis down", "x"))
    _line, fig, text = ecci.render({"response": {"cluster": 1}}, "event_type")
    assert not fig.data and "Redis down" in text


def test_numeric_profiles_are_binned() -> None:
    from dash_app.components import cluster_figures

    counter: dict[Any, int] = {seconds: 1 for seconds in range(5, 300, 5)}
    counter[None] = 3
    binned = cluster_figures.binned(counter)
    assert len(binned) <= cluster_figures.MAX_BARS + 1
    assert sum(binned.values()) == sum(counter.values()) and binned["(none)"] == 3


def test_home_card_and_navbar() -> None:
    from dash_app.clients.health import Health
    from dash_app.components.navbar import service_links
    from dash_app.pages import home

    domain = REGISTRY["tfd"]
    probes = {
        "learn-tfd": Health("learn-tfd", "http://a", "ready"),
        "predict-tfd": Health("predict-tfd", "http://b", "down", "not reachable"),
    }
    status = {"events_learned": 4321, "metrics": {"ROCAUC": 0.91}, "model": "logreg"}
    text = text_of(home.domain_card(domain, status, 12.5, probes))
    assert "4,321" in text and "12.5" in text and "0.9100" in text
    assert "learn-tfd: ready" in text and "predict-tfd: down" in text
    text = text_of(home.domain_card(domain, Problem("State store unreachable", "x"), 0.0, probes))
    assert "State store unreachable" in text
    cfg = DashConfig(
        mlflow_link="http://m", prometheus_link="http://p", emulator_url="http://e",
        overrides={"predict-tfd": "http://f"}, grafana_link="http://g",
    )  # fmt: skip
    labels = dict(service_links(cfg))
    assert labels["MLflow"] == "http://m" and labels["Prometheus"] == "http://p"
    assert labels["Grafana"] == "http://g" and "Alertmanager" not in labels  # not configured
    assert list(labels)[:3] == ["MLflow", "Prometheus", "Grafana"]
    assert labels["predict-tfd (readiness)"] == "http://f/health/readiness"
