"""The event form of a domain, built from its ``FieldSpec``s, and form values <-> events.

Every field a predict request needs (roles ``feature`` and ``context``, the same selection as
``Domain.validate_request``) gets one input: choices become dropdowns, numbers get the spec's
hard bounds, booleans a switch, timestamps a date picker and a time input in UTC
(``timestamp_fields``). Ids, targets and generator-debug
fields are never shown: a prediction must not see them.

Long numbered choice lists (``driver_1000`` ... ``driver_5000``) become a number input with
the prefix beside it, as the seed's forms did: a 4,001-option dropdown takes seconds to render.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from coelho.domains import Domain, FieldSpec
from dash_app import ids
from dash_app.components import timestamp_fields

REQUEST_ROLES = ("feature", "context")
TIMESTAMP_HINT = "date and time in UTC"
LONG_CHOICES = 50
_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass(frozen=True)
class Numbered:
    """Choices that are ``prefix`` + every integer from ``low`` to ``high``."""

    prefix: str
    low: int
    high: int

    def choice(self, value: Any) -> Any:
        """``4554 -> "driver_4554"``; anything that is not a whole number is passed on as is."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value
        return f"{self.prefix}{int(number)}" if number.is_integer() else value

    def number(self, choice: Any) -> Any:
        if isinstance(choice, str) and choice.startswith(self.prefix):
            digits = choice.removeprefix(self.prefix)
            if digits.isdigit():
                return int(digits)
        return choice


def numbered(spec: FieldSpec) -> Numbered | None:
    """The ``Numbered`` form of a long choice list, or None when it is not one."""
    if spec.choices is None or len(spec.choices) <= LONG_CHOICES:
        return None
    matches = [_NUMBERED.match(c) for c in spec.choices]
    if not all(matches) or len({m.group(1) for m in matches if m}) != 1:
        return None
    numbers = sorted(int(m.group(2)) for m in matches if m)
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        return None
    return Numbered(matches[0].group(1), numbers[0], numbers[-1])  # type: ignore[union-attr]


def form_fields(domain: Domain) -> list[tuple[str, FieldSpec]]:
    """``(dotted path, spec)`` of every scalar a predict request carries, in schema order."""
    return [leaf for top in domain.fields if top.role in REQUEST_ROLES for leaf in top.leaves()]


def label(path: str, spec: FieldSpec) -> str:
    if spec.description:
        return spec.description
    words = [part.replace("_", " ") for part in path.split(".")]
    return " · ".join(w[:1].upper() + w[1:] for w in words)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,g}"


def hint(spec: FieldSpec) -> str:
    parts: list[str] = []
    if spec.kind in ("int", "float") and (spec.minimum is not None or spec.maximum is not None):
        low = "−∞" if spec.minimum is None else _number(spec.minimum)
        high = "∞" if spec.maximum is None else _number(spec.maximum)
        parts.append(f"{low} – {high}")
    if spec.kind == "timestamp":
        parts.append(TIMESTAMP_HINT)
    series = numbered(spec)
    if series is not None:
        parts.append(f"{series.prefix}{series.low} – {series.prefix}{series.high}")
    elif spec.choices is not None and len(spec.choices) > 12:
        parts.append(f"{len(spec.choices):,} choices, type to search")
    if spec.nullable:
        parts.append("optional")
    return "; ".join(parts)


def control(page: str, path: str, spec: FieldSpec) -> Any:
    """The input component of one field (id ``ids.field(page, path)``)."""
    cid = ids.field(page, path)
    series = numbered(spec)
    if series is not None:
        return dbc.InputGroup(
            [
                dbc.InputGroupText(series.prefix),
                dbc.Input(
                    id=cid,
                    type="number",
                    min=series.low,
                    max=series.high,
                    step=1,
                    placeholder="(none)" if spec.nullable else None,
                ),
            ],
            size="sm",
        )
    if spec.choices is not None:
        return dcc.Dropdown(
            id=cid,
            options=[{"label": c, "value": c} for c in spec.choices],
            value=None,
            clearable=spec.nullable,
            placeholder="(none)" if spec.nullable else "choose…",
        )
    if spec.kind == "bool":
        return dbc.Switch(id=cid, value=False, label="yes / no", className="mt-1")
    if spec.kind in ("int", "float"):
        return dbc.Input(
            id=cid,
            type="number",
            min=spec.minimum,
            max=spec.maximum,
            step=1 if spec.kind == "int" else "any",
            placeholder="(empty)" if spec.nullable else None,
        )
    return dbc.Input(
        id=cid, type="text", debounce=True, placeholder="(empty)" if spec.nullable else None
    )


def _cell(title: str, component: Any, text: str) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(title, className="mb-0 small fw-bold"),
            component,
            dbc.FormText(text, className="d-block text-truncate"),
        ],
        md=6,
        className="mb-2",
    )


def form_body(page: str, domain: Domain) -> html.Div:
    """Two columns of labelled inputs, one per request field (two for a timestamp)."""
    cells = []
    for path, spec in form_fields(domain):
        if spec.kind == "timestamp":
            date, time = timestamp_fields.controls(page, path)
            name = label(path, spec)
            cells.append(_cell(f"{name} · date", date, "UTC day"))
            cells.append(_cell(f"{name} · time", time, "UTC, hh:mm:ss"))
            continue
        cells.append(_cell(label(path, spec), control(page, path, spec), hint(spec) or path))
    return html.Div(dbc.Row(cells, className="g-2"))


# -- values <-> events --------------------------------------------------------------------------


def _as_number(value: Any, spec: FieldSpec) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value  # validation names the field and the type
    if spec.kind == "int" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _value(value: Any, spec: FieldSpec) -> Any:
    series = numbered(spec)
    if series is not None:
        return None if value is None or value == "" else series.choice(value)
    if spec.kind == "bool":
        return bool(value)
    if spec.kind in ("int", "float"):
        return _as_number(value, spec)
    if isinstance(value, str):
        value = value.strip()
        if value == "" and (spec.nullable or spec.kind == "timestamp" or spec.choices):
            return None
    return value


def to_event(domain: Domain, values: dict[str, Any]) -> dict[str, Any]:
    """Nest form values (by dotted path) into an event; empty inputs become None."""
    event: dict[str, Any] = {}
    for path, spec in form_fields(domain):
        *parents, name = path.split(".")
        node = event
        for parent in parents:
            node = node.setdefault(parent, {})
        if spec.kind == "timestamp":
            time = values.get(timestamp_fields.time_path(path))
            node[name] = timestamp_fields.join(values.get(path), time)
        else:
            node[name] = _value(values.get(path), spec)
    return event


def display(value: Any, spec: FieldSpec) -> Any:
    """A generator value as its input shows it (timestamps to the second)."""
    series = numbered(spec)
    if series is not None:
        return series.number(value)
    if spec.kind == "timestamp" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).replace(microsecond=0).isoformat()
        except ValueError:
            return value
    return value


def from_event(domain: Domain, event: dict[str, Any]) -> dict[str, Any]:
    """Form values (by dotted path) of a full or request event; a timestamp gives its date
    under its path and its time under ``<path>@time``."""
    values: dict[str, Any] = {}
    for path, spec in form_fields(domain):
        node: Any = event
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if spec.kind == "timestamp":
            values[path], values[timestamp_fields.time_path(path)] = timestamp_fields.split(node)
        else:
            values[path] = display(node, spec)
    return values


def input_ids(page: str, domain: Domain) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(ids of the form's inputs, ids of its date pickers), in layout order."""
    inputs, dates = [], []
    for path, spec in form_fields(domain):
        if spec.kind == "timestamp":
            dates.append(ids.field_date(page, path))
            inputs.append(ids.field(page, timestamp_fields.time_path(path)))
        else:
            inputs.append(ids.field(page, path))
    return inputs, dates


def point_paths(domain: Domain) -> list[str]:
    """Dotted paths of the lat/lon leaves of the form's point fields (``schema.point``)."""
    return [
        path
        for path, _spec in form_fields(domain)
        if path.rsplit(".", 1)[-1] in ("lat", "lon") and "." in path
    ]
