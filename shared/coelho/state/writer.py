"""The single writer of a domain: holds the lease, applies the log, checkpoints.

Each learn function runs one ``DomainWriter`` (in a child process, coelho.state.sidecar). All
of them compete for the lease; the holder applies every log entry after its checkpoint, in
order, and the others wait. See the package docstring for the invariants.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from coelho import guard, telemetry
from coelho.errors import StateTampered
from coelho.learning import OnlineModel
from coelho.settings import Settings
from coelho.state.checkpoint import CheckpointStore
from coelho.state.curve import CurveRecorder, Point, event_time_ms
from coelho.state.keys import DEAD_LETTERS, Keys
from coelho.state.log import EventLog, LogEntry
from coelho.state.positions import seed_floors

log = logging.getLogger(__name__)

# KEYS: lease. ARGV: token, ttl ms. Renew only our own lease.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# KEYS: lease, stats, history. ARGV: token, then field/value pairs, history point JSON or "".
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local n = #ARGV
redis.call('HSET', KEYS[2], unpack(ARGV, 2, n - 1))
if ARGV[n] ~= '' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', '5000', '*', 'p', ARGV[n])
end
return 1
"""

BATCH = 500
# Fixed costs per batch (lease renewal, stats, metric computation) are paid by time, not by
# batch: when the writer keeps up, batches hold one or two events and per-batch work would
# dominate its CPU time (and the machine's, which the request path shares).
LINGER_SECONDS = 0.02
STATS_EVERY_SECONDS = 0.1
HISTORY_EVERY_SECONDS = 1.0


class DomainWriter:
    """Competes for the lease of ``domain`` and, while holding it, keeps the model current."""

    def __init__(
        self,
        client: redis.Redis,
        domain: str,
        settings: Settings,
        model_name: str | None = None,
        restore: Callable[[str], OnlineModel | None] | None = None,
    ) -> None:
        self.client = client
        # Called when the lease is taken and no checkpoint exists (state lost or never made):
        # may return a model restored from elsewhere (coelho.recovery: the model registry).
        self.restore = restore
        self.domain = domain
        self.settings = settings
        self.model_name = model_name
        self.keys = Keys(domain)
        self.log = EventLog(client, domain, settings.dedupe_ttl_seconds)
        self.store = CheckpointStore(client, domain, settings.state_key, settings.log_retention,
                                     settings.archive_guard)  # fmt: skip
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._publish = client.register_script(_PUBLISH)
        self.curve = CurveRecorder(client, domain, settings.curve_every, settings.curve_max_points)
        # The time of the last event applied (the curve's clock), parsed only when needed.
        self._event_time_ms: int | None = None
        self._last_event: dict[str, Any] | None = None
        self.token = secrets.token_hex(16)
        self.model: OnlineModel | None = None
        self.position = "0-0"
        self.version = 0
        self.error: str | None = None
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._last_history = 0.0
        self._last_stats = 0.0
        self._dirty = False
        self._apply_lag = 0.0
        self._renewed_at = 0.0
        self._champion: dict[str, float] | None = None
        self._verdicts: dict[str, int] = {}
        self._logged_state = guard.OK
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"writer-{self.domain}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop; a holder checkpoints and hands the lease over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.holding:
            try:
                if self._since_checkpoint:
                    self.checkpoint()
                self._release(keys=[self.keys.lease], args=[self.token])
            except redis.RedisError:
                log.warning("writer %s: could not checkpoint on stop", self.domain)
            self._drop()

    @property
    def holding(self) -> bool:
        return self.model is not None

    # -- loop ------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.holding:
                    self._step()
                elif self._acquire():
                    self._restore()
                else:
                    self._stop.wait(self.settings.lease_ms / 3000)
            except StateTampered as exc:
                # Never overwrite state we cannot verify: stop learning, keep appending.
                self.error = str(exc)
                self._drop()
                log.error("%s", exc)
                self._stop.wait(self.settings.lease_ms / 1000)
            except redis.RedisError as exc:
                log.warning("writer %s: redis error %s; retrying", self.domain, exc)
                self._drop()
                self._stop.wait(0.5)

    def _acquire(self) -> bool:
        taken = self.client.set(self.keys.lease, self.token, nx=True, px=self.settings.lease_ms)
        if taken:
            self._renewed_at = time.monotonic()
        return bool(taken)

    def _restore(self) -> None:
        checkpoint = self.store.load()
        restored = None
        if checkpoint is None:
            restored = self._recover()
            self.model = restored or OnlineModel.create(self.domain, self.model_name)
            self.position, self.version = "0-0", 0
            self._event_time_ms, self._last_event = None, None
            rebased = self.curve.start_lineage(self.token, self.model)
        else:
            self.model = checkpoint.model
            self.position, self.version = checkpoint.position, checkpoint.version
            self._event_time_ms, self._last_event = checkpoint.event_time_ms, None
            telemetry.CHECKPOINT_BYTES.labels(self.domain).set(checkpoint.size)
            rebased = self.curve.resume(self.token, self.model)
        if not rebased:  # the lease went meanwhile (a slow restore): another writer has it
            self._drop()
            return
        self.error = None
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        self._verdicts = dict(self.model.health.totals)  # count only what this writer sees
        self._export_health(self.model.health.state)
        telemetry.IS_WRITER.labels(self.domain).set(1)
        log.info("writer %s: lease taken at version %d", self.domain, self.version)
        if restored is not None:
            # Records the snapshot covers are duplicates from now on (a re-read of committed
            # offsets below it must not be learned twice).
            seed_floors(self.client, self.domain, restored.offsets)
            self.checkpoint()  # fenced: a writer that lost the lease meanwhile drops the model

    def _recover(self) -> OnlineModel | None:
        if self.restore is None:
            return None
        try:
            model = self.restore(self.domain)
        except Exception:  # noqa: BLE001 - without the registry, learn from scratch, don't stall
            log.exception("writer %s: restore failed; starting from scratch", self.domain)
            return None
        if model is not None and not self._renew(
            keys=[self.keys.lease], args=[self.token, self.settings.lease_ms]
        ):
            self._acquire()  # the restore outlasted the lease; nobody else took it, or fencing
        return model

    def _drop(self) -> None:
        self.model = None
        telemetry.IS_WRITER.labels(self.domain).set(0)
        self._export_health(None)

    def _export_health(self, state: str | None) -> None:
        """1 for the live model's guard state, 0 for the others (all 0 when not the writer)."""
        for name in (guard.OK, guard.DEGRADED, guard.DIVERGED):
            telemetry.MODEL_HEALTH.labels(self.domain, name).set(int(name == state))

    def _renew_lease(self) -> bool:
        if self._renew(keys=[self.keys.lease], args=[self.token, self.settings.lease_ms]):
            self._renewed_at = time.monotonic()
            return True
        log.warning("writer %s: lease lost; dropping in-memory state", self.domain)
        self._drop()
        return False

    def _lease_due(self) -> bool:
        return time.monotonic() - self._renewed_at > self.settings.lease_ms / 3000

    def _step(self) -> None:
        if self._lease_due() and not self._renew_lease():
            return
        entries = self.log.read_after(self.position, BATCH, block_ms=200)
        for entry in entries:
            self._apply(entry)
            if self._lease_due() and not self._renew_lease():
                return
        now = time.monotonic()
        if self._dirty and (not entries or now - self._last_stats >= STATS_EVERY_SECONDS):
            self._publish_stats()
        due = now - self._last_checkpoint >= self.settings.checkpoint_seconds
        if self._since_checkpoint >= self.settings.checkpoint_every or (
            due and self._since_checkpoint
        ):
            self.checkpoint()
        if 0 < len(entries) < BATCH:
            self._stop.wait(LINGER_SECONDS)

    def _apply(self, entry: LogEntry) -> None:
        assert self.model is not None
        learned = self.model.events_learned
        try:
            self.model.learn(entry.event, entry.position)
            telemetry.EVENTS_LEARNED.labels(self.domain).inc()
            self._apply_lag = entry.age()
            telemetry.APPLY_LAG.labels(self.domain).observe(self._apply_lag)
        except Exception as exc:  # noqa: BLE001 - one poisonous entry must not stop the domain
            telemetry.APPLY_ERRORS.labels(self.domain).inc()
            log.exception("writer %s: entry %s failed", self.domain, entry.entry_id)
            self.client.xadd(
                DEAD_LETTERS,
                {"domain": self.domain, "source": entry.source, "id": entry.event_id,
                 "reason": f"apply failed: {exc!r}", "data": json.dumps(entry.event)},
                maxlen=10_000, approximate=True,
            )  # fmt: skip
        self.position = entry.entry_id
        self._since_checkpoint += 1
        self._dirty = True
        if self.model.events_learned != learned:
            self._note_curve(entry)

    def _note_curve(self, entry: LogEntry) -> None:
        """Buffer a learning-curve point when one is due (coelho.state.curve)."""
        assert self.model is not None
        self._last_event = entry.event
        n = self.model.events_learned
        if self.curve.due(n):
            at = self._event_time() or int(time.time() * 1000)
            self.curve.add(Point(n, at, self.model.metric_values()))

    def _event_time(self) -> int | None:
        """The last applied event's own time (unix ms), parsed once (5 µs, not per event)."""
        if self._last_event is not None:
            found = event_time_ms(self.domain, self._last_event)
            self._event_time_ms = found or self._event_time_ms
            self._last_event = None
        return self._event_time_ms

    def checkpoint(self) -> None:
        """Store the model as covering the log up to ``self.position`` (fenced by the lease)."""
        if self.model is None:
            return
        # The points it covers first: a checkpoint never covers a point missing from Redis.
        if not self.curve.flush(self.token):
            self._drop()
            return
        version = self.store.save(self.model, self.position, self.model.events_learned,
                                  self.token, self._event_time())  # fmt: skip
        if version is None:
            self._drop()
            return
        self.version = version
        self._since_checkpoint = 0
        self._last_checkpoint = time.monotonic()
        telemetry.STATE_VERSION.labels(self.domain).set(version)
        self._publish_stats()

    def _publish_stats(self) -> None:
        assert self.model is not None
        self._last_stats = time.monotonic()
        self._dirty = False
        metrics = self.model.metric_values()
        for name, value in metrics.items():
            telemetry.PREQUENTIAL.labels(self.domain, name).set(value)
        lag = self._lag()
        telemetry.LOG_LAG.labels(self.domain).set(lag)
        now = time.time()
        history = ""
        if now - self._last_history >= HISTORY_EVERY_SECONDS:
            self._last_history = now
            self._champion = self._champion_metrics()
            history = json.dumps({"t": now, "n": self.model.events_learned, "m": metrics})
        health = self._guard(metrics)
        fields: dict[str, Any] = {
            "events_learned": self.model.events_learned,
            "state_version": self.version,
            "metrics": json.dumps(metrics),
            "offsets": json.dumps(self.model.offsets),
            "model": self.model.model_name,
            "position": self.position,
            "lag": lag,
            "lag_ms": round(self._apply_lag * 1000, 1),  # append -> applied, last entry
            "updated_at": now,
            "health": json.dumps(health),
        }
        args = [self.token, *(v for kv in fields.items() for v in kv), history]
        self.curve.flush(self.token)  # a lost lease shows at the next renewal
        self._publish(keys=[self.keys.lease, self.keys.stats, self.keys.history], args=args)

    def _champion_metrics(self) -> dict[str, float] | None:
        """The champion's metrics as the snapshot function last recorded them (or None)."""
        raw = self.client.hget(self.keys.snapshot, "champion_metrics")
        try:
            return dict(json.loads(raw)) if raw else None
        except (ValueError, TypeError):
            return None

    def _guard(self, metrics: dict[str, float]) -> dict[str, Any]:
        """Run the metric half of the guard and export the verdicts (``coelho.guard``)."""
        assert self.model is not None
        health = self.model.health
        health.check_metric(metrics, self._champion, self.model.events_learned)
        state = health.state
        self._export_health(state)
        for verdict, total in health.totals.items():
            seen = self._verdicts.get(verdict, 0)
            if total > seen:
                telemetry.GUARD_VERDICTS.labels(self.domain, verdict).inc(total - seen)
            self._verdicts[verdict] = total
        if state != guard.OK and state != self._logged_state:
            log.error("writer %s: the live model is %s: %s", self.domain, state, health.reason)
        self._logged_state = state
        return health.describe()

    def _lag(self) -> int:
        appended = self.client.hget(self.keys.counters, "appended")
        return max(0, int(appended or 0) - self._applied_total())

    def _applied_total(self) -> int:
        assert self.model is not None
        return self.model.events_learned
