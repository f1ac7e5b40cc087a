"""Estimated Time of Arrival: trip map (origin, destination, route), ETA in seconds/minutes."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, callback, dcc, html

from coelho.domains import get
from coelho.domains.eta import AVG_SPEED_KMH, haversine_km
from dash_app import config, ids
from dash_app.components import domain_layout, figures

# The domain this page shows: the registry key is the module's name (pages/<key>.py).
KEY = get(__name__.rsplit(".", 1)[-1]).key
POINTS = ("origin.lat", "origin.lon", "destination.lat", "destination.lon")

dash.register_page(
    __name__,
    path=f"/{KEY}",
    name="Delivery time",
    order=2,
    title="Delivery time · COELHO",
    description="Real-time ETA regression on Houston trips",
)


def layout(**kwargs: Any) -> html.Div:
    result = [
        dcc.Graph(id=ids.page_id(KEY, "map"), config={"displayModeBar": False}),
        html.Div(id=ids.page_id(KEY, "trip"), className="small my-2"),
        dcc.Graph(
            id=ids.page_id(KEY, "eta-numbers"),
            config={"displayModeBar": False},
            figure=figures.empty("Fill the form and press Predict", 160),
        ),
    ]
    return domain_layout.page(KEY, result=result)


def trip(coordinates: list[Any]) -> tuple[Any, Any]:
    """(map, distance line) for origin/destination lat/lon as typed in the form."""
    if any(not isinstance(c, int | float) or isinstance(c, bool) for c in coordinates):
        return figures.empty("Enter origin and destination coordinates", 320), None
    origin = {"lat": float(coordinates[0]), "lon": float(coordinates[1])}
    destination = {"lat": float(coordinates[2]), "lon": float(coordinates[3])}
    distance = haversine_km(origin, destination)
    initial = distance / AVG_SPEED_KMH * 60.0
    text = html.Span(
        [
            html.Strong(f"{distance:,.2f} km", className="coelho-distance"),
            f" straight-line distance · initial estimate {initial:,.1f} min at "
            f"{AVG_SPEED_KMH:g} km/h",
        ]
    )
    return figures.trip_map(origin, destination, config.get().map_tiles), text


@callback(
    Output(ids.page_id(KEY, "map"), "figure"),
    Output(ids.page_id(KEY, "trip"), "children"),
    *(Input(ids.field(KEY, path), "value") for path in POINTS),
)
def render_trip(*coordinates: Any) -> tuple[Any, Any]:
    return trip(list(coordinates))


def numbers(body: dict[str, Any]) -> Any:
    try:
        return figures.eta_numbers(float(body["eta_seconds"]), float(body["eta_minutes"]))
    except (KeyError, TypeError, ValueError):
        return figures.empty("The answer has no eta_seconds/eta_minutes", 160)


@callback(
    Output(ids.page_id(KEY, "eta-numbers"), "figure"),
    Input(ids.part(KEY, ids.RESULT_STORE), "data"),
)
def render_eta(result: dict[str, Any] | None) -> Any:
    if not result:
        return figures.empty("Fill the form and press Predict", 160)
    return numbers(result.get("response") or {})
