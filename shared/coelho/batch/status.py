"""Where a batch training stands, in Redis: what the dashboard, the CLI and ``/metrics`` read.

Keys of domain ``d``:

- ``coelho:d:batch`` (hash): the current or last training: ``request_id``, ``state``
  (running, done, failed, stopped), ``stage`` (loading_data -> training | k_search ->
  evaluating -> logging -> done | failed | stopped), ``percent``, ``rows``, ``message``,
  times, and once known ``run_id``, ``version``, ``metrics``, ``comparison``, ``k_log`` (JSON);
- ``coelho:d:batch:lock``: the id of the request that holds the domain (one training per
  domain at a time), with a TTL the trainer renews; a trainer that dies loses it within
  ``LOCK_MS`` and the next reader records the training as failed ("stopped reporting");
- ``coelho:d:batch:stop``: the id of the request the user asked to stop;
- ``coelho:d:batch:outcomes`` (hash): how many trainings ended done, failed, stopped or
  refused (the counters behind ``coelho_batch_trainings_total``);
- ``coelho:batch:request:<id>`` (hash, kept a week): one request's own state from ``queued``
  (the client sent it) to its end, including ``refused`` with the reason, which the
  requester reads even when the domain's hash belongs to another training.

Every transition that must not race (take the domain, finish, declare a silent trainer
failed) is one Lua script.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

LOCK_MS = 30_000
REQUEST_TTL_S = 7 * 24 * 3600
TERMINAL = ("done", "failed", "stopped", "refused")
JSON_FIELDS = ("metrics", "comparison", "k_log", "params")

# KEYS: lock, status. ARGV: request id, lock ms, then field/value pairs of the new status.
_TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], unpack(ARGV, 3))
  return ''
end
return redis.call('GET', KEYS[1]) or ''
"""
# KEYS: lock. ARGV: request id, lock ms. Renew only our own lock.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: lock, status, outcomes, stop. ARGV: request id, outcome, then field/value pairs.
_FINISH = """
if redis.call('HGET', KEYS[2], 'request_id') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 3))
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
return 1
"""
# KEYS: lock, status, outcomes. ARGV: now, message. A running training whose lock expired.
_REAP = """
if redis.call('HGET', KEYS[2], 'state') ~= 'running' then return 0 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], 'state', 'failed', 'stage', 'failed', 'finished_at', ARGV[1],
           'updated_at', ARGV[1], 'message', ARGV[2])
redis.call('HINCRBY', KEYS[3], 'failed', 1)
return 1
"""


class Stopped(Exception):
    """The user asked the training to stop (or its process was told to terminate)."""


class Keys:
    def __init__(self, domain: str) -> None:
        self.status = f"coelho:{domain}:batch"
        self.lock = f"coelho:{domain}:batch:lock"
        self.stop = f"coelho:{domain}:batch:stop"
        self.outcomes = f"coelho:{domain}:batch:outcomes"


def request_key(request_id: str) -> str:
    return f"coelho:batch:request:{request_id}"


def _pairs(fields: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in fields.items():
        out += [key, json.dumps(value) if key in JSON_FIELDS else str(value)]
    return out


def _decode(raw: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name, text = key.decode(), value.decode()
        if name in JSON_FIELDS:
            try:
                out[name] = json.loads(text)
            except ValueError:
                out[name] = None
        elif name in ("percent", "started_at", "updated_at", "finished_at"):
            out[name] = float(text)
        elif name in ("rows", "train_rows", "holdout_rows", "version"):
            out[name] = int(text) if text.lstrip("-").isdigit() else None
        else:
            out[name] = text
    return out


class TrainingStatus:
    """One domain's training status; the trainer writes it, everyone else reads it."""

    def __init__(self, client: redis.Redis, domain: str) -> None:
        self.client = client
        self.domain = domain
        self.keys = Keys(domain)

    # -- the trainer -----------------------------------------------------------------------
    def take(self, request_id: str, fields: dict[str, Any]) -> str | None:
        """Hold the domain for ``request_id`` and start its status; the holder's id if taken."""
        now = time.time()
        status = {"request_id": request_id, "state": "running", "stage": "loading_data",
                  "percent": 0.0, "message": "starting", "started_at": now, "updated_at": now,
                  **fields}  # fmt: skip
        holder = self.client.eval(_TAKE, 2, self.keys.lock, self.keys.status, request_id,
                                  LOCK_MS, *_pairs(status))  # fmt: skip
        holder = holder.decode() if isinstance(holder, bytes) else str(holder or "")
        return holder or None

    def renew(self, request_id: str) -> bool:
        return bool(self.client.eval(_RENEW, 1, self.keys.lock, request_id, LOCK_MS))

    def update(self, **fields: Any) -> None:
        pairs = _pairs({**fields, "updated_at": time.time()})
        self.client.hset(self.keys.status, mapping=dict(zip(pairs[::2], pairs[1::2], strict=True)))

    def finish(self, request_id: str, outcome: str, message: str, **fields: Any) -> bool:
        now = time.time()
        stage = "done" if outcome == "done" else outcome
        values = {"state": outcome, "stage": stage, "message": message, "finished_at": now,
                  "updated_at": now, **({"percent": 100.0} if outcome == "done" else {}),
                  **fields}  # fmt: skip
        done = self.client.eval(_FINISH, 4, self.keys.lock, self.keys.status,
                                self.keys.outcomes, self.keys.stop, request_id, outcome,
                                *_pairs(values))  # fmt: skip
        return bool(done)

    def count(self, outcome: str) -> None:
        """Count an outcome that never held the domain (a refused request)."""
        self.client.hincrby(self.keys.outcomes, outcome, 1)

    def stop_requested(self, request_id: str) -> bool:
        value = self.client.get(self.keys.stop)
        return value is not None and value.decode() == request_id

    # -- readers ---------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        """The domain's status ({} before its first training); a silent trainer is failed."""
        raw = self.client.hgetall(self.keys.status)
        status = _decode(raw)
        if status.get("state") == "running" and not self.client.exists(self.keys.lock):
            message = ("the trainer stopped reporting (its lock expired): it was killed or "
                       "crashed; see the job's log")  # fmt: skip
            reaped = self.client.eval(_REAP, 3, self.keys.lock, self.keys.status,
                                      self.keys.outcomes, time.time(), message)  # fmt: skip
            if reaped and status.get("request_id"):
                record(self.client, str(status["request_id"]), self.domain, "failed", message)
            status = _decode(self.client.hgetall(self.keys.status))
        return status

    def outcomes(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self.client.hgetall(self.keys.outcomes).items()}

    def request_stop(self) -> str | None:
        """Ask the running training to stop; its request id, or None when none runs."""
        status = self.read()
        if status.get("state") != "running":
            return None
        request_id = str(status["request_id"])
        self.client.set(self.keys.stop, request_id, ex=3600)
        return request_id


def record(client: redis.Redis, request_id: str, domain: str, state: str, message: str) -> None:
    """One request's own state (``queued`` by the client, then the trainer's verdicts)."""
    key = request_key(request_id)
    client.hset(key, mapping={"domain": domain, "state": state, "message": message,
                              "updated_at": str(time.time())})  # fmt: skip
    client.expire(key, REQUEST_TTL_S)


def request_state(client: redis.Redis, request_id: str) -> dict[str, str]:
    raw = client.hgetall(request_key(request_id))
    return {k.decode(): v.decode() for k, v in raw.items()}
