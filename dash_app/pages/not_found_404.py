"""The page Dash Pages shows for an unknown path."""

from __future__ import annotations

from typing import Any

import dash
from dash import dcc, html

dash.register_page(__name__, path="/404", title="Not found · COELHO")


def layout(**kwargs: Any) -> html.Div:
    return html.Div([html.H2("Page not found"), dcc.Link("Back to the home page", href="/")])
