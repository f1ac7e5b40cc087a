"""A domain's model inputs as a pandas DataFrame, from Delta rows or from request events.

The inputs are derived from the domain's ``FieldSpec``s, one column per scalar field, named as
in the lakehouse table (nested paths joined by ``_``: ``device_info.os`` -> ``device_info_os``):

- ids, targets and ``debug`` fields never are inputs (the seed's ETA model learned from the
  generator's own factors); neither are ``context`` fields (IP, user agent, page URL, driver
  ids...), except timestamps, which become time features;
- a string with ``choices`` is categorical, its codes fixed by the choices (never a
  DENSE_RANK of whatever values happen to be in the sample); a free string is left out;
- numbers and booleans are numeric (booleans as 0/1), missing values NaN;
- the domain's ``BatchSpec.exclude`` drops more.

Training (Delta rows) and serving (a JSON event) go through the same column list, so a model
sees the same frame in both. Timestamps are ISO-8601 strings in UTC, as events carry them (a
model's signature then types them as strings, which MLflow's serving conversion accepts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from coelho.domains import Domain
from coelho.domains.schema import FieldSpec

Kind = Literal["numeric", "categorical", "timestamp"]
ISO_UTC = "%Y-%m-%dT%H:%M:%S.%f+00:00"


@dataclass(frozen=True)
class Column:
    """One model input: its table column, dotted field path and how it is encoded."""

    name: str
    path: str
    kind: Kind
    choices: tuple[str, ...] = ()
    nullable: bool = False


Leaf = tuple[tuple[str, ...], FieldSpec, str]


def _leaves(spec: FieldSpec, path: tuple[str, ...], role: str) -> list[Leaf]:
    here = (*path, spec.name)
    if spec.kind != "object":
        return [(here, spec, spec.role if spec.role != "feature" else role)]
    inherited = spec.role if spec.role != "feature" else role
    return [leaf for child in spec.fields for leaf in _leaves(child, here, inherited)]


def leaves(domain: Domain) -> list[Leaf]:
    """(path, spec, effective role) of every scalar field; a child inherits its object's role."""
    return [leaf for spec in domain.fields for leaf in _leaves(spec, (), "feature")]


def columns(domain: Domain) -> list[Column]:
    """The model inputs of ``domain``, in schema order (see the module doc for the rules)."""
    exclude = set(domain.batch.exclude) if domain.batch else set()
    found: list[Column] = []
    for path, spec, role in leaves(domain):
        dotted = ".".join(path)
        if role in ("id", "target", "debug") or dotted in exclude:
            continue
        name = "_".join(path)
        nullable = _nullable(domain, path)
        if spec.kind == "timestamp":
            found.append(Column(name, dotted, "timestamp", (), nullable))
        elif role == "context":
            continue
        elif spec.kind == "str":
            if spec.choices:
                found.append(Column(name, dotted, "categorical", tuple(spec.choices), nullable))
        else:
            found.append(Column(name, dotted, "numeric", (), nullable))
    return found


def _nullable(domain: Domain, path: tuple[str, ...]) -> bool:
    """A field may be null when it or any object above it is nullable."""
    fields = domain.fields
    for part in path:
        spec = next(f for f in fields if f.name == part)
        if spec.nullable:
            return True
        fields = spec.fields
    return False


def signature_columns(domain: Domain) -> list[tuple[str, str, bool]]:
    """(column, MLflow type, required) of the inputs: what a registered model's signature says."""
    kinds = {"categorical": "string", "timestamp": "string", "numeric": "double"}
    return [(c.name, kinds[c.kind], not c.nullable) for c in columns(domain)]


def target(domain: Domain) -> str | None:
    """The table column of the label, None for clustering."""
    return domain.target


def time_column(domain: Domain) -> str | None:
    """The event's own time (the first timestamp field): the split is by this column."""
    for path, spec, _ in leaves(domain):
        if spec.kind == "timestamp":
            return "_".join(path)
    return None


def to_frame(domain: Domain, data: Mapping[str, Any]) -> Any:
    """The typed input frame from column -> values (lists, arrays or pandas Series)."""
    import numpy as np
    import pandas as pd

    out: dict[str, Any] = {}
    for column in columns(domain):
        values = data[column.name]
        series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
        series = series.reset_index(drop=True)
        if column.kind == "categorical":
            # Plain object columns (str or NaN) whatever pandas would infer: an all-missing
            # request column must not turn float, nor a training column pyarrow strings.
            values = [np.nan if pd.isna(v) else str(v) for v in series.astype(object)]
            out[column.name] = pd.Series(values, dtype=object)
        elif column.kind == "timestamp":
            moments = pd.to_datetime(series, utc=True, format="ISO8601")
            out[column.name] = moments.dt.strftime(ISO_UTC).astype(object)
        else:
            out[column.name] = series.astype(object).astype("float64")
    return pd.DataFrame(out)


def from_events(domain: Domain, events: Iterable[Mapping[str, Any]]) -> Any:
    """The input frame of validated events (a predict request, a River replay)."""
    rows = list(events)
    data = {c.name: [_dig(e, c.path) for e in rows] for c in columns(domain)}
    return to_frame(domain, data)


def events_from_columns(domain: Domain, data: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Table rows back as nested events (every leaf column the table has), for River."""
    leaf_list = [(path, spec) for path, spec, _ in leaves(domain)]
    count = len(next(iter(data.values()))) if data else 0
    events: list[dict[str, Any]] = [{} for _ in range(count)]
    for path, spec in leaf_list:
        name = "_".join(path)
        if name not in data:
            continue
        for event, value in zip(events, data[name], strict=True):
            parent = event
            for part in path[:-1]:
                parent = parent.setdefault(part, {})
            parent[path[-1]] = _event_value(spec, value)
    return events


def _event_value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.kind == "timestamp":
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        return moment.isoformat()
    if spec.kind == "int":
        return int(value)
    if spec.kind == "float":
        return float(value)
    return value


def _dig(event: Mapping[str, Any], dotted: str) -> Any:
    value: Any = event
    for key in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value
