"""Plotly figures of the dashboard; pure functions of data, so tests can check them directly."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

RISK_BANDS = (
    (0.0, 30.0, "LOW", "#2e7d32"),
    (30.0, 70.0, "MEDIUM", "#f9a825"),
    (70.0, 100.0, "HIGH", "#c62828"),
)
MARGIN = {"l": 40, "r": 10, "t": 30, "b": 30}


def risk(probability: float) -> tuple[str, str]:
    """Risk band name and colour of a fraud probability in [0, 1] (<30 / <70 / >=70 %)."""
    percent = probability * 100.0
    for _low, high, name, colour in RISK_BANDS[:-1]:
        if percent < high:
            return name, colour
    return RISK_BANDS[-1][2], RISK_BANDS[-1][3]


def empty(message: str, height: int = 220) -> go.Figure:
    """A blank figure that says why it is blank."""
    fig = go.Figure()
    fig.add_annotation(
        text=message,
        showarrow=False,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        font={"size": 13, "color": "#6c757d"},
    )
    fig.update_layout(
        height=height,
        margin=MARGIN,
        xaxis={"visible": False},
        yaxis={"visible": False},
        template="plotly_white",
    )
    return fig


def gauge(probability: float) -> go.Figure:
    """Fraud probability (%) with the low/medium/high risk bands."""
    name, colour = risk(probability)
    fig = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=round(probability * 100.0, 2),
            number={"suffix": " %", "valueformat": ".2f"},
            title={"text": f"Fraud probability · {name} risk"},
            gauge={
                "axis": {"range": [0, 100]},
                "bar": {"color": colour},
                "steps": [
                    {"range": [low, high], "color": c + "33"} for low, high, _n, c in RISK_BANDS
                ],
                "threshold": {"line": {"color": "#212529", "width": 3}, "value": 50},
            },
        )
    )
    fig.update_layout(height=260, margin={"l": 30, "r": 30, "t": 50, "b": 10})
    return fig


def confusion(values: Mapping[str, float], classes: Sequence[str]) -> go.Figure:
    """2x2 confusion matrix from the writer's tp/fp/fn/tn counters; ``classes`` names the
    negative and the positive class (``Domain.class_names``)."""
    if len(classes) != 2 or not all(k in values for k in ("tp", "fp", "fn", "tn")):
        return empty("no confusion matrix yet", height=240)
    z = [[values["tn"], values["fp"]], [values["fn"], values["tp"]]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[f"predicted {c}" for c in classes],
            y=[f"actual {c}" for c in classes],
            text=[[f"{v:,.0f}" for v in row] for row in z],
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    fig.update_layout(
        height=240,
        margin={"l": 90, "r": 10, "t": 30, "b": 40},
        yaxis={"autorange": "reversed"},
        title={"text": "Confusion matrix (prequential)", "font": {"size": 13}},
    )
    return fig


def map_layers(tiles: str) -> list[dict[str, Any]]:
    """Raster tiles under the traces, or none for ``tiles == ""``.

    Tiles are a layout layer over the self-contained ``white-bg`` style, not the map style:
    plotly fails the whole map when its style's sources error before the first render, so
    offline the route would vanish too. As a layer, a tile that cannot load is only a
    missing background.
    """
    if not tiles:
        return []
    return [
        {
            "sourcetype": "raster",
            "source": [tiles],
            "below": "traces",
            "sourceattribution": "© OpenStreetMap contributors © CARTO",
        }
    ]


def zoom_for(origin: Mapping[str, float], destination: Mapping[str, float]) -> float:
    """A zoom at which the trip spans about 280 px of a wide map."""
    span = max(
        abs(origin["lon"] - destination["lon"]), abs(origin["lat"] - destination["lat"]) * 1.6, 1e-4
    )
    # MapLibre zoom z shows the world 512 * 2**z pixels wide.
    return max(2.0, min(15.0, math.log2(360.0 * 280.0 / (512.0 * span))))


def trip_map(
    origin: Mapping[str, float], destination: Mapping[str, float], tiles: str
) -> go.Figure:
    """Origin, destination and the straight route line between them (MapLibre)."""
    lats = [origin["lat"], destination["lat"]]
    lons = [origin["lon"], destination["lon"]]
    fig = go.Figure()
    fig.add_trace(
        go.Scattermap(
            lat=lats,
            lon=lons,
            mode="lines",
            name="route",
            line={"width": 4, "color": "#1565c0"},
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scattermap(
            lat=[lats[0]],
            lon=[lons[0]],
            mode="markers",
            name="origin",
            marker={"size": 16, "color": "#2e7d32"},
            hovertext=["origin"],
        )
    )
    fig.add_trace(
        go.Scattermap(
            lat=[lats[1]],
            lon=[lons[1]],
            mode="markers",
            name="destination",
            marker={"size": 16, "color": "#c62828"},
            hovertext=["destination"],
        )
    )
    fig.update_layout(
        map={
            "style": "white-bg",
            "layers": map_layers(tiles),
            "center": {"lat": sum(lats) / 2, "lon": sum(lons) / 2},
            "zoom": zoom_for(origin, destination),
        },
        height=320,
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        legend={
            "orientation": "h",
            "x": 0.01,
            "y": 0.01,
            "yanchor": "bottom",
            "bgcolor": "rgba(255,255,255,0.8)",
        },
        uirevision=f"{lats}{lons}",
    )
    return fig


def eta_numbers(seconds: float, minutes: float) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Indicator(
            mode="number",
            value=seconds,
            title={"text": "Seconds"},
            number={"valueformat": ",.0f"},
            domain={"x": [0, 0.48]},
        )
    )
    fig.add_trace(
        go.Indicator(
            mode="number",
            value=minutes,
            title={"text": "Minutes"},
            number={"valueformat": ",.1f"},
            domain={"x": [0.52, 1]},
        )
    )
    fig.update_layout(height=160, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig
