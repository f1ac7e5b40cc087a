"""A predict replica's live model, as fresh as the stream: its checkpoint plus the log after it.

Why: the writer checkpoints every ``COELHO_CHECKPOINT_SECONDS`` (2 s), so a replica that only
reloads checkpoints answers up to 2 s plus its polling interval behind an acknowledged event.
The log already holds every acknowledged event, in the order the writer applies them, so the
replica applies the same entries itself.

- **Base.** The replica loads the domain's checkpoint (verified, metrics deferred:
  coelho.lightload) and remembers its identity (version, saved_at).
- **Follow.** A thread blocks on ``XREAD`` after the served model's position and applies each
  entry with ``OnlineModel.learn(score=False)``, the writer's own deterministic path without
  the metric bookkeeping: after entry k the replica's pipeline is the writer's after entry k.
  An entry is applied under the model's lock, between two predictions, and an answer reads
  ``events_learned`` under the same lock: it is exactly the entries the answering model applied.
- **Re-base.** After every read the thread reads the checkpoint identity. A changed identity
  (a new checkpoint, a restore, a reset, a flushed Redis) discards the batch: the replica loads
  the new checkpoint, applies the log after its position off to the side while the old model
  answers, and swaps. So an entry is never applied twice to a model (it only ever gets entries
  after its own position) and never skipped: entries are trimmed only by a checkpoint save,
  which changes the identity, and the identity is read after the ``XREAD``, so an unchanged one
  proves nothing behind the read position was trimmed; the log after the newest checkpoint is
  never trimmed. Every served model is one checkpoint plus the log after it, so none mixes
  lineages; while no checkpoint exists the last model keeps answering and applies nothing.
- **Fallback.** Applying costs the replica CPU. It measures that (thread CPU time per entry);
  a pipeline above ``COELHO_PREDICT_FOLLOW_MAX_US`` (default 250 us; the forests take
  0.5-2 ms, the linear models and DBSTREAM 40-80 us: README, Benchmarks) falls back to
  checkpoint reloads. The thread then reads the log only to measure the lag and reloads each new
  checkpoint. ``COELHO_PREDICT_LIVE`` forces ``log`` or ``checkpoint``.
- **Why a thread.** Catching up on each request instead (one pipelined ``XREAD`` + ``HMGET``
  before answering) was as fresh but added a Redis round trip to every prediction: predict
  p99 1.6-2.3x the no-op's at fixed load against 1.2-1.3x with the thread (README,
  Benchmarks). A thread that waits in ``XREAD`` costs a request nothing.

The thread starts on the first request of the process that serves (functions-framework imports
``main.py`` in gunicorn's master and forks the worker; threads do not survive a fork).
``warm()`` at import already applies the tail, so the first answer is fresh. The thread keeps a
disposable copy current for this replica's own answers, never the model of record, so nothing
is lost when the replica scales to zero.
"""

from __future__ import annotations

import collections
import logging
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from coelho.errors import CoelhoError
from coelho.serving import (
    MODEL_LOAD_SECONDS,
    MODEL_RELOADS,
    MODEL_VERSION_SERVED,
    LiveSource,
    Served,
)
from coelho.settings import Settings
from coelho.state.log import LogEntry, appended_at
from coelho.state.log import _entry as parse_entry  # the log's own parser of an entry
from coelho.telemetry import FOLLOWS_LOG, FRESHNESS, LAG_EVENTS, LAG_SECONDS

log = logging.getLogger(__name__)

MODES = ("auto", "log", "checkpoint")
BATCH = 500
BLOCK_MS = 1000
COST_WINDOW = 64  # entries per cost measurement
REBASE_SECONDS = 2.0  # catch-up budget of one re-base; the thread carries on after the swap
STALE_AFTER = BLOCK_MS / 1000 + 2.0  # no read for this long: the lag is unknown
MAX_TRACKED = 100_000  # entries whose append time is kept while reloading checkpoints

Ident = tuple[int, float]


def _order(entry_id: str) -> tuple[int, int]:
    """A stream id as a comparable pair.

    >>> _order("1700000000123-2") < _order("1700000000123-10")
    True
    """
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class LiveServed(Served):
    """The live model plus its log position and, per answer, the replica's lag."""

    position: str = "0-0"
    replica: LiveReplica | None = field(default=None, repr=False)

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["position"] = self.position
        if self.replica is not None:
            described.update(self.replica.lag_fields())
        return described


class LiveReplica(LiveSource):
    """The live source of a predict replica: a checkpoint kept current from the log."""

    def __init__(self, client: redis.Redis, domain: str, settings: Settings) -> None:
        super().__init__(client, domain, settings.state_key)
        if settings.predict_live not in MODES:
            raise ValueError(f"COELHO_PREDICT_LIVE={settings.predict_live!r}: choose {MODES}")
        self.mode = settings.predict_live
        self.max_cost_us = settings.predict_follow_max_us
        self.follows = self.mode != "checkpoint"
        self.cursor = "0-0"  # the last entry read from the log
        self._ident: Ident | None = None  # the checkpoint the served model derives from
        self._unapplied: collections.deque[tuple[str, float]] = collections.deque()
        self._untracked = 0
        self._alive_at = 0.0
        self._costs: list[int] = []  # thread CPU ns per entry, of the current window
        self._over_windows = 0
        self._too_costly = False
        self._pid: int | None = None
        self._start_lock = threading.Lock()
        self._step_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        FOLLOWS_LOG.labels(domain).set(int(self.follows))
        LAG_EVENTS.labels(domain).set_function(lambda: _nan(self.lag()[0]))
        LAG_SECONDS.labels(domain).set_function(lambda: _nan(self.lag()[1]))

    # -- request side ----------------------------------------------------------------------

    def current(self) -> Served:
        if self._pid != os.getpid():
            self._start()
        if self.served is None:
            # No model yet (e.g. started before any checkpoint): load one now rather than
            # answer 503 while a checkpoint exists and the thread has not got to it.
            self.reload()
        return super().current() if self.served is None else self.served

    def _check(self) -> None:
        """The parent's request-path version check: the thread does this work here."""

    def reload(self) -> bool:
        """Load the checkpoint and apply the log after it, now (``warm()`` at import)."""
        with self._step_lock:
            self._guarded(None)
        return self.served is not None

    def lag(self) -> tuple[int | None, float | None]:
        """(entries, seconds) the served model is behind the log as read; None when unknown."""
        now = time.time()
        if now - self._alive_at > STALE_AFTER:
            return None, None
        try:
            oldest = self._unapplied[0][1]
        except IndexError:
            return self._untracked, 0.0
        return len(self._unapplied) + self._untracked, max(0.0, now - oldest)

    def lag_fields(self) -> dict[str, Any]:
        events, seconds = self.lag()
        lag_ms = None if seconds is None else round(seconds * 1000, 1)
        return {"lag_events": events, "lag_ms": lag_ms,
                "refresh": "log" if self.follows else "checkpoint"}  # fmt: skip

    # -- the follower thread ---------------------------------------------------------------

    def _start(self) -> None:
        with self._start_lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"follow-{self.domain}",
                                            daemon=True)  # fmt: skip
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (tests; a replica's process simply exits)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pid = None

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._step_lock:
                waited = self._guarded(BLOCK_MS)
            if not waited:
                self._stop.wait(BLOCK_MS / 1000)

    def _guarded(self, block_ms: int | None) -> bool:
        """One step; errors keep the last model answering. False: nothing was waited on."""
        try:
            return self._step(block_ms)
        except redis.RedisError as exc:
            self.last_error = f"redis unavailable: {exc}"
            log.warning("predict %s: %s (keeping the loaded model)", self.domain, exc)
        except CoelhoError as exc:  # StateTampered: never serve unverified state
            self.last_error = str(exc)
            log.error("predict %s: %s", self.domain, exc)
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any one failure
            self.last_error = f"following the log failed: {exc!r}"
            log.exception("predict %s: following the log failed", self.domain)
        return False

    def _read(self, after: str, block_ms: int | None) -> tuple[list[LogEntry], Ident | None]:
        """Entries after ``after`` and the checkpoint identity read right after them.

        One round trip: Redis runs a connection's commands in order, so the ``HMGET`` runs
        when the (possibly blocking) ``XREAD`` has returned.
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.xread({self.keys.log: after}, count=BATCH, block=block_ms)
        pipe.hmget(self.keys.checkpoint, ["version", "saved_at"])
        reply, (version, saved_at) = pipe.execute()
        entries = [parse_entry(i, f) for i, f in reply[0][1]] if reply else []
        ident = None if version is None or saved_at is None else (int(version), float(saved_at))
        return entries, ident

    def _step(self, block_ms: int | None) -> bool:
        if self._ident is None:
            return self._rebase()
        entries, ident = self._read(self.cursor, block_ms)
        self._alive_at = time.time()
        if ident != self._ident:
            self._rebase()  # the batch may be another lineage's, or follow a trimmed gap
            return True
        if entries:
            self.cursor = entries[-1].entry_id
            room = max(0, MAX_TRACKED - len(self._unapplied))
            self._unapplied.extend((e.entry_id, appended_at(e.entry_id)) for e in entries[:room])
            self._untracked += len(entries) - min(room, len(entries))
            if self.follows:
                self._follow(entries)
        return True

    def _follow(self, entries: list[LogEntry]) -> None:
        served = self.served
        assert isinstance(served, LiveServed)
        for entry in entries:
            with served.lock:
                self._learn(served.model, entry)
                served.position, served.updated_at = entry.entry_id, time.time()
            FRESHNESS.labels(self.domain).observe(entry.age())
            self._unapplied.popleft()
            if self._too_costly:
                self._ident = None  # re-base on the plain checkpoint, then reload checkpoints
                return

    def _learn(self, model: Any, entry: LogEntry) -> None:
        started = time.thread_time_ns()
        try:
            model.learn(entry.event, entry.position, score=False)
        except Exception:  # noqa: BLE001 - the writer raised on it too and dead-lettered it
            log.warning("predict %s: entry %s failed (as in the writer)", self.domain,
                        entry.entry_id, exc_info=True)  # fmt: skip
        self._costs.append(time.thread_time_ns() - started)
        if len(self._costs) >= COST_WINDOW:
            self._judge_cost()

    def _judge_cost(self) -> None:
        """Per window of entries: is following too costly for a replica?

        The median CPU time per entry, so that a garbage collection or a cold cache in one
        entry does not decide; two windows in a row must be over the limit.
        """
        cost_us = statistics.median(self._costs) / 1000
        self._costs.clear()
        over = self.mode == "auto" and cost_us > self.max_cost_us
        self._over_windows = self._over_windows + 1 if over else 0
        if self._over_windows >= 2:
            log.warning("predict %s: applying the log costs %.0f us per entry (limit %.0f): "
                        "reloading checkpoints instead", self.domain, cost_us,
                        self.max_cost_us)  # fmt: skip
            self.follows, self._too_costly = False, True
            FOLLOWS_LOG.labels(self.domain).set(0)

    def _rebase(self) -> bool:
        """Serve the current checkpoint plus the log after it; False while none exists."""
        started = time.perf_counter()
        checkpoint = self._load()
        if checkpoint is None:
            self._ident = None  # a reset or a lost state: keep answering, apply nothing
            return False
        model, position, newly = checkpoint.model, checkpoint.position, []
        old = _order(self.served.position) if isinstance(self.served, LiveServed) else (0, 0)
        ident = (checkpoint.version, checkpoint.saved_at)
        deadline = time.monotonic() + REBASE_SECONDS
        while self.follows:
            entries, now_ident = self._read(position, None)
            if now_ident != ident:
                return True  # saved again meanwhile: the next step re-bases on that one
            for entry in entries:
                self._learn(model, entry)
                if self._too_costly:
                    return self._rebase()  # serve the plain checkpoint
                position = entry.entry_id
                if _order(position) > old:
                    newly.append(entry)
            if len(entries) < BATCH or time.monotonic() > deadline:
                break
        self._too_costly = False
        self.served = LiveServed(model, "live", checkpoint.version, checkpoint.saved_at,
                                 {"bytes": checkpoint.size}, position=position,
                                 replica=self)  # fmt: skip
        self._ident, self._alive_at, self.last_error = ident, time.time(), None
        fresh = FRESHNESS.labels(self.domain)
        for entry in newly:
            fresh.observe(entry.age())
        covered = _order(position)
        for entry_id, at in self._unapplied:  # read while reloading checkpoints
            if old < _order(entry_id) <= covered:
                fresh.observe(max(0.0, time.time() - at))
        self._unapplied.clear()
        self._untracked = 0
        self.cursor = position
        MODEL_LOAD_SECONDS.labels(self.domain, "live").observe(time.perf_counter() - started)
        MODEL_RELOADS.labels(self.domain, "live").inc()
        MODEL_VERSION_SERVED.labels(self.domain, "live").set(checkpoint.version)
        log.debug("predict %s: live model v%d + log to %s in %.1f ms", self.domain,
                  checkpoint.version, position, (time.perf_counter() - started) * 1000)  # fmt: skip
        return True


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)
