"""Event schemas as data: one ``FieldSpec`` per field, validated in one place.

The same specs drive event validation in the functions, request validation in the predict
functions, the Dash forms (ranges and choices) and the producers' tests, so a field is
described exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from coelho.errors import InvalidEvent

Kind = Literal["str", "int", "float", "bool", "timestamp", "object"]
Role = Literal["id", "feature", "target", "debug", "context"]

_PY_TYPES: dict[str, str] = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "timestamp": "ISO-8601 string",
    "object": "object",
}


@dataclass(frozen=True)
class FieldSpec:
    """One event field.

    ``minimum``/``maximum`` are hard bounds (an event outside them is malformed); the
    producers draw from narrower distributions inside them. ``role`` says how the models
    may use the field: ``debug`` fields are generator internals and must never be features.
    """

    name: str
    kind: Kind
    nullable: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    fields: tuple[FieldSpec, ...] = ()
    role: Role = "feature"
    description: str = ""

    def leaves(self, prefix: str = "") -> list[tuple[str, FieldSpec]]:
        """Dotted paths of the scalar fields below (or at) this one."""
        path = f"{prefix}{self.name}"
        if self.kind != "object":
            return [(path, self)]
        return [leaf for child in self.fields for leaf in child.leaves(f"{path}.")]


def point(name: str, role: Role = "feature") -> FieldSpec:
    """A ``{lat, lon}`` object with the globe's bounds."""
    return FieldSpec(
        name,
        "object",
        fields=(
            FieldSpec("lat", "float", minimum=-90, maximum=90),
            FieldSpec("lon", "float", minimum=-180, maximum=180),
        ),
        role=role,
    )


def leaf_fields(fields: tuple[FieldSpec, ...]) -> list[tuple[str, FieldSpec]]:
    """All scalar fields of a schema as ``(dotted.path, spec)``, in declaration order."""
    return [leaf for spec in fields for leaf in spec.leaves()]


def validate(fields: tuple[FieldSpec, ...], data: Any, prefix: str = "") -> dict[str, Any]:
    """Return a clean copy of ``data`` or raise ``InvalidEvent`` naming the first bad field.

    Unknown keys are dropped rather than rejected, so producers can add fields without
    breaking older functions. Integers are accepted where floats are expected.

    >>> spec = (FieldSpec("amount", "float", minimum=0),)
    >>> validate(spec, {"amount": 3})
    {'amount': 3.0}
    >>> validate(spec, {"amount": "3"})
    Traceback (most recent call last):
    ...
    coelho.errors.InvalidEvent: amount: expected number, got str
    """
    if not isinstance(data, Mapping):
        raise InvalidEvent(prefix.rstrip(".") or "data", f"expected object, got {_type(data)}")
    clean: dict[str, Any] = {}
    for spec in fields:
        path = f"{prefix}{spec.name}"
        if spec.name not in data or data[spec.name] is None:
            if spec.nullable:
                clean[spec.name] = None
                continue
            reason = "is required" if spec.name not in data else "must not be null"
            raise InvalidEvent(path, reason)
        clean[spec.name] = _check(spec, data[spec.name], path)
    return clean


def _check(spec: FieldSpec, value: Any, path: str) -> Any:
    if spec.kind == "object":
        return validate(spec.fields, value, f"{path}.")
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise InvalidEvent(path, f"expected boolean, got {_type(value)}")
        return value
    if spec.kind in ("str", "timestamp"):
        if not isinstance(value, str):
            raise InvalidEvent(path, f"expected {_PY_TYPES[spec.kind]}, got {_type(value)}")
        if spec.kind == "timestamp":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise InvalidEvent(path, f"not an ISO-8601 timestamp: {value!r}") from None
        if spec.choices is not None and value not in spec.choices:
            raise InvalidEvent(path, f"{value!r} is not one of {', '.join(spec.choices)}")
        return value
    return _check_number(spec, value, path)


def _check_number(spec: FieldSpec, value: Any, path: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(path, f"expected {_PY_TYPES[spec.kind]}, got {_type(value)}")
    if spec.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise InvalidEvent(path, f"expected integer, got {value!r}")
        number: int | float = int(value)
    else:
        if not math.isfinite(value):
            raise InvalidEvent(path, f"must be a finite number, got {value!r}")
        number = float(value)
    if spec.minimum is not None and number < spec.minimum:
        raise InvalidEvent(path, f"{number!r} is below the minimum {spec.minimum:g}")
    if spec.maximum is not None and number > spec.maximum:
        raise InvalidEvent(path, f"{number!r} is above the maximum {spec.maximum:g}")
    return number


def _type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "integer", float: "number", str: "str", list: "array"}.get(
        type(value), type(value).__name__
    )
