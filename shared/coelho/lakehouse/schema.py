"""A domain's Delta table layout, derived from its ``FieldSpec``s, and log entries as rows.

Columns: every scalar field of the event, nested ones flattened with ``_`` (``location.lat``
-> ``location_lat``), typed from the spec (str -> string, int -> int64, float -> float64,
bool -> bool, timestamp -> timestamp[us, UTC]); then where the event came from:

- ``ce_id``, ``ce_source``: the CloudEvent identity the learn function deduplicated on;
- ``kafka_topic``, ``kafka_partition``, ``kafka_offset``: the record's position (null when the
  event did not come through a KafkaSource);
- ``log_id``: the entry id in the domain's Redis log (the archive's cursor is the last one);
- ``ingested_at``: when the learn function acknowledged it (the log id's milliseconds);
- ``event_date``: the UTC date of the event's own timestamp (the partition column).

Everything here is deterministic: the same log entries always give the same rows, which is
what lets a retried batch be recognised (coelho.lakehouse).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from coelho.domains import Domain
from coelho.domains.schema import FieldSpec
from coelho.state.log import LogEntry

PARTITION = "event_date"
_ARROW = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
META: tuple[pa.Field, ...] = (
    pa.field("ce_id", pa.string(), nullable=False),
    pa.field("ce_source", pa.string(), nullable=False),
    pa.field("kafka_topic", pa.string()),
    pa.field("kafka_partition", pa.int32()),
    pa.field("kafka_offset", pa.int64()),
    pa.field("log_id", pa.string(), nullable=False),
    pa.field("ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field(PARTITION, pa.date32(), nullable=False),
)


def _leaves(
    spec: FieldSpec, path: tuple[str, ...], nullable: bool
) -> list[tuple[tuple[str, ...], FieldSpec, bool]]:
    here = (*path, spec.name)
    if spec.kind != "object":
        return [(here, spec, nullable or spec.nullable)]
    return [
        leaf for child in spec.fields for leaf in _leaves(child, here, nullable or spec.nullable)
    ]


class TableLayout:
    """The Arrow schema of one domain's table and the conversion of log entries to rows."""

    def __init__(self, domain: Domain) -> None:
        if not domain.table:
            raise ValueError(f"domain {domain.key!r} declares no lakehouse table")
        self.domain = domain
        self.table = domain.table
        self.leaves = [leaf for spec in domain.fields for leaf in _leaves(spec, (), False)]
        fields = [pa.field("_".join(path), _ARROW[spec.kind], nullable=nullable)
                  for path, spec, nullable in self.leaves]  # fmt: skip
        names = [f.name for f in fields] + [f.name for f in META]
        clash = sorted({n for n in names if names.count(n) > 1})
        if clash:
            raise ValueError(f"{domain.key}: column names used twice in the table: {clash}")
        self.schema = pa.schema([*fields, *META])
        stamps = [path for path, spec, _ in self.leaves if spec.kind == "timestamp"]
        self._event_time = stamps[0] if stamps else None

    @property
    def columns(self) -> list[str]:
        return self.schema.names

    def rows(self, entries: Sequence[LogEntry]) -> pa.Table:
        """The table rows of ``entries`` (validated events, as the learn function logged them)."""
        columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        for entry in entries:
            for path, spec, _ in self.leaves:
                columns["_".join(path)].append(_value(spec, _dig(entry.event, path)))
            ingested = ingested_at(entry.entry_id)
            event_time = (
                _timestamp(_dig(entry.event, self._event_time)) if self._event_time else None
            )
            topic, partition, offset = entry.position or (None, None, None)
            columns["ce_id"].append(entry.event_id)
            columns["ce_source"].append(entry.source)
            columns["kafka_topic"].append(topic)
            columns["kafka_partition"].append(partition)
            columns["kafka_offset"].append(offset)
            columns["log_id"].append(entry.entry_id)
            columns["ingested_at"].append(ingested)
            columns[PARTITION].append((event_time or ingested).date())
        return pa.table(columns, schema=self.schema)


def _dig(event: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = event
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _value(spec: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.kind == "timestamp":
        return _timestamp(value)
    if spec.kind == "float":
        return float(value)
    return value


def _timestamp(value: Any) -> datetime | None:
    """An ISO-8601 string as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def ingested_at(entry_id: str) -> datetime:
    """The acknowledgement time of a log entry: the milliseconds part of its stream id.

    >>> ingested_at("1700000000123-4").isoformat()
    '2023-11-14T22:13:20.123000+00:00'
    """
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, UTC)


def jsonable(value: Any) -> Any:
    """A query result cell as JSON: dates as ISO strings, bytes as hex, NaN/inf as null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    try:
        return float(value)  # Decimal and numpy scalars
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))
