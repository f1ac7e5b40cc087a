"""Figures of the metrics panel: sparklines, gauges, the classification report and the map of
recent events by cluster. Pure functions of data (and a domain's ``MetricSpec``s)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from coelho.domains import MetricSpec
from dash_app.clients.state import Point
from dash_app.components.figures import empty, map_layers

GOOD, FAIR, POOR, NEUTRAL = "#2e7d32", "#f9a825", "#c62828", "#1565c0"
SPARK_HEIGHT = 56
SPARK_POINTS = 120
SPARK_TEMPLATE = {"layout": {"paper_bgcolor": "white", "plot_bgcolor": "white"}}
GAUGE_HEIGHT = 150
# A categorical palette for cluster ids (cycled).
CLUSTER_COLOURS = ("#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f",
                   "#ad1457", "#4e342e", "#9e9d24", "#37474f")  # fmt: skip


def number(value: float, spec: MetricSpec) -> str:
    """A metric value as its card shows it: counts whole, large errors without decimals."""
    if spec.build is None or (abs(value) >= 1_000):
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:.4f}"


def trend(points: Sequence[Point], spec: MetricSpec) -> tuple[float, str] | None:
    """(change over the shown history, colour: better green, worse red, a count blue)."""
    shown = [p.m[spec.name] for p in points if spec.name in p.m]
    if len(shown) < 2:
        return None
    change = shown[-1] - shown[0]
    if spec.higher_is_better is None or change == 0:
        return change, NEUTRAL
    return change, GOOD if (change > 0) == spec.higher_is_better else POOR


def sparkline(points: Sequence[Point], spec: MetricSpec) -> dict[str, Any]:
    """The metric over the shown history, axis-free (hover: value, events learned).

    A plain figure dict of at most ``SPARK_POINTS`` points (every k-th, and the newest): a
    page refreshes a few dozen of these every interval, and building them as validated
    ``go.Figure``s of 600 points took over a second for TFD's 18 cards."""
    shown = [p for p in points if spec.name in p.m]
    step = max(1, math.ceil(len(shown) / SPARK_POINTS))
    kept = shown[::-1][::step][::-1]
    data = []
    if kept:
        data.append({
            "type": "scatter",
            "mode": "lines",
            "x": [p.t * 1000.0 for p in kept],
            "y": [p.m[spec.name] for p in kept],
            "customdata": [p.n for p in kept],
            "line": {"width": 1.5, "color": NEUTRAL},
            "fill": "tozeroy" if spec.low is not None and spec.low >= 0 else "none",
            "fillcolor": "rgba(21,101,192,0.08)",
            "hovertemplate": f"{spec.label} %{{y:.4g}}<br>after %{{customdata:,}} events"
            "<extra></extra>",
        })  # fmt: skip
    layout = {
        "height": SPARK_HEIGHT,
        "margin": {"l": 0, "r": 0, "t": 2, "b": 2},
        "xaxis": {"visible": False, "type": "date"},
        "yaxis": {"visible": False},
        "showlegend": False,
        "template": SPARK_TEMPLATE,
        "uirevision": spec.name,
    }
    return {"data": data, "layout": layout}


def gauge(value: float | None, spec: MetricSpec) -> go.Figure:
    """``value`` on a gauge over ``spec.low..spec.high``: red below the middle of the range
    (chance, for MCC and balanced accuracy), amber up to three quarters, green above."""
    low = -1.0 if spec.low is None else spec.low
    high = 1.0 if spec.high is None else spec.high
    span = high - low
    bands = ((low, low + span / 2, POOR), (low + span / 2, low + span * 3 / 4, FAIR),
             (low + span * 3 / 4, high, GOOD))  # fmt: skip
    colour = next((c for a, b, c in bands if value is not None and a <= value <= b), NEUTRAL)
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=value,
            number={"valueformat": ".3f"},
            gauge={
                "axis": {"range": [low, high]},
                "bar": {"color": colour},
                "steps": [{"range": [a, b], "color": c + "26"} for a, b, c in bands],
            },
        )
    )
    fig.update_layout(height=GAUGE_HEIGHT, margin={"l": 25, "r": 25, "t": 10, "b": 5})
    return fig


def report_rows(counts: Mapping[str, float], classes: Sequence[str]) -> list[dict[str, Any]]:
    """Per-class precision, recall, F1 and support from binary confusion counts, then the
    macro and support-weighted averages (scikit-learn's classification report layout)."""
    tp, fp, fn, tn = (float(counts[k]) for k in ("tp", "fp", "fn", "tn"))

    def row(name: str, hit: float, false_alarm: float, miss: float) -> dict[str, Any]:
        precision = hit / (hit + false_alarm) if hit + false_alarm else 0.0
        recall = hit / (hit + miss) if hit + miss else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"class": name, "precision": precision, "recall": recall, "f1": f1,
                "support": hit + miss}  # fmt: skip

    negative, positive = row(classes[0], tn, fn, fp), row(classes[1], tp, fp, fn)
    total = negative["support"] + positive["support"]
    rows = [negative, positive]
    macro = {k: (negative[k] + positive[k]) / 2 for k in ("precision", "recall", "f1")}
    weighted = {
        k: (negative[k] * negative["support"] + positive[k] * positive["support"]) / total
        if total else 0.0
        for k in ("precision", "recall", "f1")
    }  # fmt: skip
    rows.append({"class": "macro avg", **macro, "support": total})
    rows.append({"class": "weighted avg", **weighted, "support": total})
    return rows


def classification_report(counts: Mapping[str, float], classes: Sequence[str]) -> go.Figure:
    """Heatmap of ``report_rows``: precision, recall and F1 coloured red to green; support (a
    count, neither good nor bad) written in an uncoloured column beside them."""
    if len(classes) != 2 or not all(k in counts for k in ("tp", "fp", "fn", "tn")):
        return empty("no classification report yet", 240)
    rows = report_rows(counts, classes)
    names = [r["class"] for r in rows]
    scores = ("precision", "recall", "f1")
    fig = go.Figure(
        go.Heatmap(
            z=[[*(r[c] for c in scores), None] for r in rows],
            x=["precision", "recall", "F1", "support"],
            y=names,
            text=[[*(f"{r[c]:.3f}" for c in scores), ""] for r in rows],
            texttemplate="%{text}",
            colorscale="RdYlGn",
            zmin=0.0,
            zmax=1.0,
            showscale=False,
            hoverongaps=False,
            hovertemplate="%{y} · %{x}: %{text}<extra></extra>",
        )
    )
    for r in rows:
        fig.add_annotation(x="support", y=r["class"], text=f"{r['support']:,.0f}",
                           showarrow=False, font={"size": 12})  # fmt: skip
    fig.update_layout(
        height=240,
        margin={"l": 90, "r": 10, "t": 30, "b": 40},
        yaxis={"autorange": "reversed"},
        plot_bgcolor="white",
        title={"text": "Classification report (prequential)", "font": {"size": 13}},
    )
    return fig


def locations(recent: Sequence[Sequence[float]], tiles: str) -> go.Figure:
    """Recent scored events at their location, one trace (and colour) per cluster."""
    if not recent:
        return empty("no scored events with a location yet", 320)
    by_cluster: dict[int, list[tuple[float, float]]] = {}
    for lat, lon, cluster in recent:
        by_cluster.setdefault(int(cluster), []).append((float(lat), float(lon)))
    fig = go.Figure()
    for cluster in sorted(by_cluster):
        points = by_cluster[cluster]
        fig.add_trace(
            go.Scattermap(
                lat=[p[0] for p in points],
                lon=[p[1] for p in points],
                mode="markers",
                name=f"cluster {cluster}",
                marker={"size": 9, "color": CLUSTER_COLOURS[cluster % len(CLUSTER_COLOURS)]},
                hovertemplate=f"cluster {cluster}<br>%{{lat:.3f}}, %{{lon:.3f}}<extra></extra>",
            )
        )
    lats = [float(r[0]) for r in recent]
    lons = [float(r[1]) for r in recent]
    span = max(max(lats) - min(lats), (max(lons) - min(lons)) / 1.6, 1e-3)
    fig.update_layout(
        map={
            "style": "white-bg",
            "layers": map_layers(tiles),
            "center": {"lat": sum(lats) / len(lats), "lon": sum(lons) / len(lons)},
            "zoom": max(1.0, min(14.0, math.log2(360.0 / span) - 0.5)),
        },
        height=320,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)"},
        uirevision="locations",
    )
    return fig
