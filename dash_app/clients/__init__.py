"""Clients of the platform: predict and health URLs, Redis state, MLflow, training control.

Every call is bounded by a timeout and reports failure as a ``Problem`` a page can show, so a
callback never raises into the browser and never waits forever.
"""

from __future__ import annotations

from dash_app.clients.problem import Problem

__all__ = ["Problem"]
