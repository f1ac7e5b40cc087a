"""Text extraction shared by the Dash unit tests (the app fixture is in conftest.py)."""

from __future__ import annotations

from typing import Any


def text_of(component: Any) -> str:
    """All text below a Dash component."""
    if component is None:
        return ""
    if isinstance(component, str | int | float):
        return str(component)
    children = getattr(component, "children", None)
    if isinstance(children, list | tuple):
        return " ".join(text_of(c) for c in children)
    return text_of(children)
