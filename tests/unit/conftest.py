"""Fixtures of the unit tests that need more than a function's arguments."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dash_app import config
from dash_app.config import DashConfig


@pytest.fixture(scope="module")
def dash_app_instance() -> Iterator[Any]:
    """The app (pages register on import); Redis and the emulator point at nothing."""
    from dash_app.app import create_app

    cfg = DashConfig(redis_url="redis://127.0.0.1:1/0", emulator_url="http://127.0.0.1:1")
    yield create_app(cfg)
    config.use(None)
