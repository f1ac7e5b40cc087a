"""Signed, versioned checkpoints of a domain's ``OnlineModel``.

A pickle can run code when loaded, so a blob is only unpickled after its HMAC-SHA256 tag
(keyed by ``COELHO_STATE_KEY``) verifies. Writes are fenced by the writer's lease token.
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import pickle
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis

from coelho.errors import StateTampered
from coelho.state.keys import Keys

# KEYS: lease, checkpoint hash, log, archive hash. ARGV: token, blob, mac, position, events,
# model, now, retention, guard, event time (unix ms of the last event covered, or "").
# Entries are trimmed only when the checkpoint covers them AND they are older than the newest
# ``retention`` entries (kept for audits, replays and the differential tests) AND, with the
# guard on, the lakehouse archive has read them (its cursor, ``position`` of the archive hash,
# is "0-0" until it has archived anything).
_SAVE = """
local function before(x, y)
  local a, b = string.match(x, '(%d+)-(%d+)')
  local c, d = string.match(y, '(%d+)-(%d+)')
  return tonumber(a) < tonumber(c) or (tonumber(a) == tonumber(c) and tonumber(b) < tonumber(d))
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('HSET', KEYS[2], 'blob', ARGV[2], 'mac', ARGV[3], 'position', ARGV[4],
           'events_learned', ARGV[5], 'model', ARGV[6], 'saved_at', ARGV[7],
           'bytes', string.len(ARGV[2]))
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[2], 'event_time_ms', ARGV[10])
else
  redis.call('HDEL', KEYS[2], 'event_time_ms')
end
local keep = tonumber(ARGV[8])
local floor = ARGV[4]
if ARGV[9] == '1' then
  local archived = redis.call('HGET', KEYS[4], 'position') or '0-0'
  if before(archived, floor) then floor = archived end
end
if keep == 0 then
  redis.call('XTRIM', KEYS[3], 'MINID', floor)
elseif redis.call('XLEN', KEYS[3]) > keep then
  local newest = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', keep)
  local cutoff = newest[#newest][1]
  if before(floor, cutoff) then cutoff = floor end
  redis.call('XTRIM', KEYS[3], 'MINID', cutoff)
end
return version
"""


@dataclass(frozen=True)
class Checkpoint:
    model: Any
    position: str
    version: int
    saved_at: float
    size: int
    # When the last event it covers happened (its own timestamp, unix ms), when known: the
    # final point of the learning curve its snapshot logs (coelho.state.curve).
    event_time_ms: int | None = None


# Unpickling imports River modules on first use; two threads doing it at once in a fresh
# process can see a half-initialised module (River's packages import each other), so loads
# are serialised. They are rare: a restore, a readiness check, a predict reload.
_LOAD_LOCK = threading.Lock()


def sign(blob: bytes, key: bytes) -> str:
    return hmac.new(key, blob, hashlib.sha256).hexdigest()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pickling big trees with the GC on is several times slower (online-ml.md)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def dumps(model: Any) -> bytes:
    with _gc_paused():
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)


def loads_verified(blob: bytes, mac: str, key: bytes, what: str) -> Any:
    """Unpickle ``blob`` only if ``mac`` is its tag under ``key``; else ``StateTampered``."""
    if not hmac.compare_digest(sign(blob, key), mac):
        raise StateTampered(f"{what}: HMAC does not verify; refusing to unpickle")
    with _LOAD_LOCK, _gc_paused():
        return pickle.loads(blob)


class CheckpointStore:
    def __init__(
        self,
        client: redis.Redis,
        domain: str,
        key: bytes,
        log_retention: int = 0,
        archive_guard: bool = True,
    ) -> None:
        self.client = client
        self.log_retention = log_retention
        self.archive_guard = archive_guard
        self.domain = domain
        self.keys = Keys(domain)
        self.key = key
        self._save = client.register_script(_SAVE)

    def version(self) -> int:
        """The current version (0 when none); one cheap HGET for readers polling for change."""
        raw = self.client.hget(self.keys.checkpoint, "version")
        return int(raw) if raw else 0

    def load(self) -> Checkpoint | None:
        """The latest checkpoint, verified, or None when the domain has none yet."""
        fields = self.client.hgetall(self.keys.checkpoint)
        if not fields or b"blob" not in fields:
            return None
        blob = fields[b"blob"]
        model = loads_verified(blob, fields.get(b"mac", b"").decode(), self.key,
                               f"checkpoint of {self.domain}")  # fmt: skip
        return Checkpoint(
            model=model,
            position=fields[b"position"].decode(),
            version=int(fields[b"version"]),
            saved_at=float(fields[b"saved_at"]),
            size=len(blob),
            event_time_ms=int(fields[b"event_time_ms"]) if b"event_time_ms" in fields else None,
        )

    def save(
        self,
        model: Any,
        position: str,
        events_learned: int,
        token: str,
        event_time_ms: int | None = None,
    ) -> int | None:
        """Store ``model`` as covering the log up to ``position``; None if the lease was lost."""
        blob = dumps(model)
        version = self._save(
            keys=[self.keys.lease, self.keys.checkpoint, self.keys.log, self.keys.archive],
            args=[token, blob, sign(blob, self.key), position, events_learned,
                  getattr(model, "model_name", ""), time.time(), self.log_retention,
                  int(self.archive_guard), "" if event_time_ms is None else event_time_ms],
        )  # fmt: skip
        return None if int(version) < 0 else int(version)
