"""The learning curve between two snapshots: recorded by the writer, logged by the snapshot.

A snapshot run in MLflow carries the metric history since the previous snapshot of its
lineage (``step`` = events learned, timestamp = event time), so MLflow's chart of a lineage's
runs is one continuous learning curve. The points wait in Redis between snapshots:

- **Recording** (the writer): a point at the first event of a lineage and at every multiple
  of ``COELHO_CURVE_EVERY`` events learned, with the metrics *after* that event and the
  event's own time, goes to the sorted set ``coelho:<d>:curve`` (score = events learned),
  fenced by the lease and always *before* the checkpoint that covers it, so a checkpoint
  never covers a point that is not in Redis. The snapshot adds the final point itself, from
  the checkpoint it registers (exactly its events learned, at the checkpoint's event time).
- **Base** (``coelho:<d>:curve:base``): where the waiting points start: a lineage id, the
  events learned, Kafka offsets and run of the snapshot (or restored version) before them.
  A snapshot logs exactly the points in (base, its checkpoint], then, once registered, moves
  the base and drops those points in one script, only if the lineage is still the one it read
  and the base is behind. Hence: a snapshot skipped as not due leaves the points waiting; a
  failed one is retried with the same points; one that died after registering is caught up
  by the next (``coelho.handlers.snapshot``, by the version's lineage tag); the snapshot lock
  keeps two passes from logging the same points, and a late one cannot move the base back.
- **Lineages**: a writer taking the lease drops the points after its checkpoint (it learns
  them again, identically); one starting without a checkpoint (from the registry, or from
  scratch) and ``coelho reset`` start a new lineage: a fresh id, no waiting points, base =
  the installed state.
- **Bound**: at most ``COELHO_CURVE_MAX_POINTS`` wait (0.4 kB each for TFD's 17 metrics,
  measured). Beyond that, every other waiting point but the first and the last is dropped: the
  curve still spans every event learned, at twice the step (snapshots stopped for long, or a
  stream far faster than the snapshot interval).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import redis

from coelho.domains import get
from coelho.state.keys import Keys

# KEYS: lease, curve. ARGV: token, max points, then score/member pairs.
_RECORD = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('ZADD', KEYS[2], unpack(ARGV, 3))
while redis.call('ZCARD', KEYS[2]) > tonumber(ARGV[2]) do
  local waiting = redis.call('ZRANGE', KEYS[2], 0, -2)
  for i = 2, #waiting, 2 do redis.call('ZREM', KEYS[2], waiting[i]) end
end
return 1
"""
# KEYS: lease, curve, base. ARGV: token, mode, events learned, offsets, run id, version,
# new lineage id. "resume": drop the points after the checkpoint (learned again); "new": a
# new lineage starting at the given state.
_REBASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'resume' and redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '(' .. ARGV[3], '+inf')
  return 1
end
redis.call('DEL', KEYS[2])
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'lineage', ARGV[7], 'events_learned', ARGV[3], 'offsets', ARGV[4],
           'run_id', ARGV[5], 'version', ARGV[6])
return 1
"""
# KEYS: curve, base. ARGV: lineage read, events learned, offsets, run id, version.
_ADVANCE = """
local lineage = redis.call('HGET', KEYS[2], 'lineage') or ''
if lineage ~= ARGV[1] then return 0 end
local current = tonumber(redis.call('HGET', KEYS[2], 'events_learned') or '0')
if current >= tonumber(ARGV[2]) then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('HSET', KEYS[2], 'lineage', lineage, 'events_learned', ARGV[2], 'offsets', ARGV[3],
           'run_id', ARGV[4], 'version', ARGV[5])
return 1
"""


@dataclass(frozen=True)
class Point:
    """The metrics after ``events_learned`` events, at the time of the last one (unix ms)."""

    events_learned: int
    timestamp_ms: int
    metrics: dict[str, float]

    def encode(self) -> str:
        return json.dumps({"n": self.events_learned, "t": self.timestamp_ms, "m": self.metrics},
                          separators=(",", ":"))  # fmt: skip

    @classmethod
    def decode(cls, raw: bytes | str) -> Point:
        data = json.loads(raw)
        return cls(int(data["n"]), int(data["t"]), dict(data["m"]))


@dataclass(frozen=True)
class Base:
    """Where the waiting points start (module doc); the empty lineage "" before any writer."""

    lineage: str = ""
    events_learned: int = 0
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)
    run_id: str = ""
    version: str = ""


@dataclass(frozen=True)
class Pending:
    """What a snapshot of a checkpoint at ``through`` events logs: the base and the points."""

    base: Base
    points: list[Point]


def event_time_ms(domain: str, event: dict[str, Any]) -> int | None:
    """The event's own time (its schema's first timestamp field) in unix ms, or None.

    >>> event_time_ms("eta", {"timestamp": "2026-01-02T03:04:05+00:00"})
    1767323045000
    """
    name = _time_field(domain)
    raw = event.get(name) if name else None
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return int(moment.timestamp() * 1000)


@cache
def _time_field(domain: str) -> str | None:
    return next((f.name for f in get(domain).fields if f.kind == "timestamp"), None)


def _offsets(offsets: dict[str, dict[Any, int]]) -> str:
    plain = {t: {str(p): int(o) for p, o in parts.items()} for t, parts in offsets.items()}
    return json.dumps(plain, sort_keys=True)


class CurveRecorder:
    """The writer's side: buffer points in memory, write them fenced by the lease."""

    def __init__(self, client: redis.Redis, domain: str, every: int, max_points: int) -> None:
        self.keys = Keys(domain)
        self.domain = domain
        self.every = max(1, every)
        self.max_points = max(2, max_points)
        self.buffer: list[Point] = []
        self.client = client
        self._record = client.register_script(_RECORD)

    def due(self, events_learned: int) -> bool:
        return events_learned == 1 or events_learned % self.every == 0

    def add(self, point: Point) -> None:
        self.buffer.append(point)

    def flush(self, token: str) -> bool:
        """Write the buffered points; False (and nothing written) when the lease is lost."""
        if not self.buffer:
            return True
        pairs = [v for p in self.buffer for v in (p.events_learned, p.encode())]
        self.buffer = []
        return bool(self._record(keys=[self.keys.lease, self.keys.curve],
                                 args=[token, self.max_points, *pairs]))  # fmt: skip

    def resume(self, token: str, model: Any) -> bool:
        """After loading a checkpoint: drop the points after it (they are learned again).

        Without a base yet (a state older than the curve), the checkpoint starts a lineage."""
        self.buffer = []
        return rebase(self.client, self.domain, token, model, resume=True)

    def start_lineage(self, token: str, model: Any) -> bool:
        """A new lineage starting at ``model`` (restored from the registry, or fresh)."""
        self.buffer = []
        return rebase(self.client, self.domain, token, model)


def rebase(client: redis.Redis, domain: str, token: str, model: Any, *, resume: bool = False,
           version: str = "") -> bool:  # fmt: skip
    """Fenced by the lease ``token``: resume the lineage at ``model`` (drop later points) or
    start a new one there; False when the lease is not held."""
    keys = Keys(domain)
    script = client.register_script(_REBASE)
    args = [token, "resume" if resume else "new", model.events_learned,
            _offsets(model.offsets), "", version, secrets.token_hex(8)]  # fmt: skip
    return bool(script(keys=[keys.lease, keys.curve, keys.curve_base], args=args))


def pending(client: redis.Redis, domain: str, through: int) -> Pending:
    """The base and the waiting points in (base, ``through``], oldest first."""
    keys = Keys(domain)
    raw = {k.decode(): v.decode() for k, v in client.hgetall(keys.curve_base).items()}
    base = Base(raw.get("lineage", ""), int(raw.get("events_learned", 0)),
                json.loads(raw.get("offsets") or "{}"), raw.get("run_id", ""),
                raw.get("version", ""))  # fmt: skip
    if through <= base.events_learned:
        return Pending(base, [])
    members = client.zrangebyscore(keys.curve, f"({base.events_learned}", through)
    by_step = {p.events_learned: p for p in map(Point.decode, members)}
    return Pending(base, [by_step[n] for n in sorted(by_step)])


def advance(
    client: redis.Redis,
    domain: str,
    base: Base,
    events_learned: int,
    offsets: dict[str, dict[Any, int]],
    run_id: str,
    version: int,
) -> bool:
    """After a snapshot at ``events_learned`` is registered: it is the new base, and the points
    up to it, now logged, are dropped. Only if the lineage is still ``base``'s (a reset
    meanwhile keeps its own base) and the base is behind it (a racing pass moved it already).
    """
    keys = Keys(domain)
    script = client.register_script(_ADVANCE)
    args = [base.lineage, events_learned, _offsets(offsets), run_id, str(version)]
    return bool(script(keys=[keys.curve, keys.curve_base], args=args))
