"""A timestamp field as a date picker and a time input, so the form cannot build a bad one.

The date picker only yields real calendar days (``YYYY-MM-DD``) and the browser's time input
only complete times (``HH:MM`` or ``HH:MM:SS``), or nothing while they are incomplete; the two
join into an ISO-8601 timestamp in UTC. The date picker's value is its ``date`` property, so
it has its own id kind (``ids.FIELD_DATE``); the time is an ordinary field at
``<path>@time``. Form values carry the date under the field's path.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc

from dash_app import ids

TIME = "@time"


def time_path(path: str) -> str:
    return f"{path}{TIME}"


def split(value: Any) -> tuple[str | None, str | None]:
    """``"2026-01-31T14:05:09+01:00"`` -> ``("2026-01-31", "13:05:09")`` (in UTC)."""
    if not isinstance(value, str):
        return None, None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None, None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date().isoformat(), moment.strftime("%H:%M:%S")


def join(date: Any, time: Any) -> str | None:
    """The UTC ISO-8601 timestamp of a picked date and time; None while either is missing."""
    if not isinstance(date, str) or not isinstance(time, str) or not date or not time:
        return None
    try:
        moment = datetime.fromisoformat(f"{date[:10]}T{time}")
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC, microsecond=0).isoformat()


def controls(page: str, path: str) -> tuple[Any, Any]:
    """(date picker, time input) of timestamp field ``path``."""
    date = dcc.DatePickerSingle(
        id=ids.field_date(page, path),
        display_format="YYYY-MM-DD",
        placeholder="YYYY-MM-DD",
        clearable=False,
        className="coelho-date",
    )
    time = dbc.Input(id=ids.field(page, time_path(path)), type="time", step=1)
    return date, time
