"""Problems as the user sees them: a coloured alert with a title, a sentence and the field."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dash_app.clients.problem import Problem


def alert(problem: Problem | None) -> Any:
    """A ``dbc.Alert`` for ``problem``, or nothing."""
    if problem is None:
        return None
    body: list[Any] = [html.Strong(problem.title), html.Span(f" {problem.message}")]
    if problem.field:
        body.append(html.Div(["Field: ", html.Code(problem.field)], className="small mt-1"))
    return dbc.Alert(body, color=problem.level, className="mb-2 py-2 coelho-problem")


def muted(text: str) -> html.Span:
    return html.Span(text, className="text-muted small")
