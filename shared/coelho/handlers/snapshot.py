"""The snapshot function: on each PingSource tick, register every domain whose state moved.

Per domain: read the checkpoint version from Redis (one HMGET); if it moved since the last
snapshot and learned enough since the newest version (``coelho.retention.snapshot_due``), load
the checkpoint (verified), log an MLflow run with the model, register a new version of
``<domain>-river``, apply the promotion policy (``coelho.registry``), then the retention policy
(``coelho.retention``). Snapshots read the checkpoint, never the writer, so they never block
learning. ``{"force": true}`` in the event's data (``coelho snapshot``) skips the thresholds, and
so does a new lineage left by ``coelho reset``. A state the guard found unhealthy is registered
with a ``coelho.health`` tag saying so and never promoted; the champion's metrics are left in
the domain's snapshot hash for the writer's guard.

The tick is answered 202 at once and the work runs in one background thread per process;
ticks arriving meanwhile are coalesced into one more pass. ``POST /?wait=1`` runs the pass in
the request and answers 200 with a per-domain report (the CLI and tests use it). A Redis lock
per domain keeps two replicas from registering the same state twice.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import urllib.request
from collections.abc import Iterable
from typing import Any

import redis
from flask import Request
from prometheus_client import Counter, Gauge, Histogram

from coelho import domains, events
from coelho.errors import CoelhoError, InvalidEvent
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.settings import Settings
from coelho.state.keys import Keys

log = logging.getLogger(__name__)

SNAPSHOTS = Counter("coelho_snapshots", "Snapshot attempts by outcome", ["domain", "outcome"])
SNAPSHOT_SECONDS = Histogram(
    "coelho_snapshot_seconds", "Time to log and register one snapshot", ["domain"],
    buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)  # fmt: skip
LAST_SUCCESS = Gauge(
    "coelho_snapshot_last_success_timestamp_seconds",
    "When the registry last matched the domain's state (registered, or found unchanged)",
    ["domain"],
)
LOCK_MS = 600_000
# KEYS: lock. ARGV: token. Release only our own lock.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SnapshotService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.client = redis.Redis.from_url(self.settings.redis_url)
        self._release = self.client.register_script(_RELEASE)
        self._busy = threading.Lock()
        self._pending: set[str] = set()
        self._pending_lock = threading.Lock()
        self.last_report: dict[str, dict[str, Any]] = {}

    # -- HTTP ------------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        from coelho.registry import tracking_uri

        try:
            self.client.ping()
        except redis.RedisError as exc:
            return False, f"redis unavailable: {exc}"
        uri = tracking_uri()
        if not uri:
            return False, "no model registry configured (set MLFLOW_TRACKING_URI)"
        try:
            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=2):
                pass
        except OSError as exc:
            return False, f"MLflow at {uri} unavailable: {exc}"
        return True, f"registry {uri}"

    def trigger(self, request: Request) -> Response:
        try:
            event = events.parse(request.headers, request.get_data())
            kind = event.get_attributes().get("type")
            if kind != events.PING_EVENT_TYPE:
                raise InvalidEvent("type", f"expected {events.PING_EVENT_TYPE}, got {kind!r}")
            wanted = requested_domains(event.data)
            force = forced(event.data)
        except CoelhoError as exc:
            return error_response(exc)
        if request.args.get("wait", "").lower() in ("1", "true", "yes"):
            return json_response(self.run(wanted, force))
        self.submit(wanted)
        return "", 202

    def handle(self, request: Request) -> Response:
        return route(request, self.trigger, self.ready)

    # -- work ------------------------------------------------------------------------------
    def submit(self, wanted: Iterable[str]) -> None:
        """Run a pass in the background; while one runs, remember the domains for the next."""
        with self._pending_lock:
            self._pending.update(wanted)
        threading.Thread(target=self._drain, name="snapshot", daemon=True).start()

    def _drain(self) -> None:
        if not self._busy.acquire(blocking=False):
            return  # the running pass picks the pending domains up
        try:
            while True:
                with self._pending_lock:
                    wanted, self._pending = sorted(self._pending), set()
                if not wanted:
                    return
                self._run_unlocked(wanted)
        finally:
            self._busy.release()

    def run(self, wanted: Iterable[str], force: bool = False) -> dict[str, dict[str, Any]]:
        """One synchronous pass (waits for a background pass to finish first)."""
        with self._busy:
            return self._run_unlocked(list(wanted), force)

    def _run_unlocked(self, wanted: list[str], force: bool = False) -> dict[str, dict[str, Any]]:
        report = {key: self.snapshot(key, force) for key in wanted}
        self.last_report.update(report)
        return report

    def snapshot(self, domain: str, force: bool = False) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            outcome = self._snapshot(domain, force)
        except Exception as exc:  # noqa: BLE001 - one domain's failure must not stop the others
            log.exception("snapshot %s failed", domain)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
        SNAPSHOTS.labels(domain, outcome["status"]).inc()
        if outcome["status"] in ("registered", "unchanged", "not-due"):
            LAST_SUCCESS.labels(domain).set_to_current_time()
        if outcome["status"] == "registered":
            SNAPSHOT_SECONDS.labels(domain).observe(time.perf_counter() - started)
        return outcome

    def _snapshot(self, domain: str, force: bool = False) -> dict[str, Any]:
        keys = Keys(domain)
        version, learned = self.client.hmget(keys.checkpoint, ["version", "events_learned"])
        if version is None:
            return {"status": "no-state"}
        state_version, events_learned = int(version), int(learned or 0)
        marker = self.client.hgetall(keys.snapshot)
        reset = b"reset" in marker  # a new lineage (coelho reset) is always registered
        force = force or reset
        if int(marker.get(b"state_version", -1)) == state_version:
            return {"status": "unchanged", "state_version": state_version,
                    "version": int(marker.get(b"registered_version", 0))}  # fmt: skip
        if not force and b"events_learned" in marker:  # the newest version, without MLflow
            newest = (int(marker[b"registered_version"]), int(marker[b"events_learned"]),
                      float(marker[b"registered_at"]))  # fmt: skip
            if (waiting := self._not_due(newest, events_learned)) is not None:
                return waiting
        token = secrets.token_hex(8)
        if not self.client.set(keys.snapshot_lock, token, nx=True, px=LOCK_MS):
            return {"status": "busy", "state_version": state_version}
        try:
            return self._publish(domain, keys, state_version, events_learned, force, reset)
        finally:
            self._release(keys=[keys.snapshot_lock], args=[token])

    def _publish(
        self,
        domain: str,
        keys: Keys,
        state_version: int,
        events_learned: int,
        force: bool,
        reset: bool = False,
    ) -> dict[str, Any]:
        from coelho.registry import shared
        from coelho.state import curve
        from coelho.state.checkpoint import CheckpointStore

        registry = shared()
        newest = next(iter(registry.versions(domain)), None)
        # After ``coelho reset`` the count can match while the state differs (a new lineage).
        if newest is not None and newest.events_learned == events_learned and not reset:
            # Same state under a new version number (e.g. restored after Redis lost it).
            self._waiting(domain, events_learned, newest)
            self._mark(keys, state_version, newest)
            return {"status": "unchanged", "state_version": state_version,
                    "version": newest.version}  # fmt: skip
        if newest is not None and not force:
            self._mark(keys, -1, newest)  # later ticks decide from Redis alone
            found = (newest.version, newest.events_learned, newest.created)
            if (waiting := self._not_due(found, events_learned)) is not None:
                return waiting
        checkpoint = CheckpointStore(self.client, domain, self.settings.state_key).load()
        if checkpoint is None:
            return {"status": "no-state"}
        model = checkpoint.model
        waiting = self._waiting(domain, model.events_learned, newest)
        info = registry.publish(domain, model, checkpoint.version, checkpoint.saved_at,
                                self.settings.state_key, checkpoint.position, waiting,
                                checkpoint.event_time_ms)  # fmt: skip
        promoted, reason = registry.consider(domain, info)
        # The points are in the registered run now (if this fails, the next pass catches up).
        curve.advance(self.client, domain, waiting.base, model.events_learned, model.offsets,
                      info.run_id, info.version)  # fmt: skip
        self._mark(keys, checkpoint.version, info)
        self.client.hdel(keys.snapshot, "reset")
        champion = info if promoted else registry.champion(domain)
        if champion is not None:
            self.client.hset(keys.snapshot, "champion_metrics", json.dumps(champion.metrics))
        pruned = self._retain(registry, domain, info, checkpoint.event_time_ms)
        log.info("snapshot %s: state v%d -> %s v%d (%s)", domain, checkpoint.version,
                 info.version, info.version, reason)  # fmt: skip
        return {"status": "registered", "version": info.version, "run_id": info.run_id,
                "state_version": checkpoint.version, "events_learned": info.events_learned,
                "health": info.health, "promoted": promoted, "reason": reason,
                "pruned": pruned}  # fmt: skip

    def _waiting(self, domain: str, through: int, newest: Any) -> Any:
        """The learning curve to log up to ``through`` (coelho.state.curve), after catching
        up with the newest version when it is of the same lineage and past the base: registered,
        but the pass failed before moving the base (its points are in its run already)."""
        from coelho.state import curve

        waiting = curve.pending(self.client, domain, through)
        base = waiting.base
        if (newest is not None and base.lineage and newest.lineage == base.lineage
                and base.events_learned < newest.events_learned <= through):  # fmt: skip
            curve.advance(self.client, domain, base, newest.events_learned, newest.offsets,
                          newest.run_id, newest.version)  # fmt: skip
            waiting = curve.pending(self.client, domain, through)
        return waiting

    def _not_due(
        self, newest: tuple[int, int, float], events_learned: int
    ) -> dict[str, Any] | None:
        """A "not-due" report while the state is too close to the newest version, else None."""
        from coelho.retention import snapshot_due

        version, learned, created = newest
        due, reason = snapshot_due(events_learned - learned, time.time() - created,
                                   self.settings.snapshot_min_events,
                                   self.settings.snapshot_min_seconds)  # fmt: skip
        return None if due else {"status": "not-due", "version": version, "reason": reason}

    def _retain(self, registry: Any, domain: str, info: Any, at_ms: int | None) -> list[int]:
        """History run + retention after a registration; a failure here fails no snapshot."""
        from coelho.retention import log_history, prune

        try:
            log_history(registry, domain, info.metrics, info.events_learned, at_ms)
            return prune(registry, domain, self.settings.registry_keep,
                         self.settings.registry_keep_held)  # fmt: skip
        except Exception:  # noqa: BLE001 - the next registration retries the pruning
            log.exception("snapshot %s: retention failed", domain)
            return []

    def _mark(self, keys: Keys, state_version: int, info: Any) -> None:
        """Remember what the newest version is, so most ticks need no MLflow call."""
        self.client.hset(keys.snapshot, mapping={
            "state_version": state_version, "registered_version": info.version,
            "run_id": info.run_id, "events_learned": info.events_learned,
            "registered_at": info.created, "at": time.time(),
        })  # fmt: skip


def forced(data: Any) -> bool:
    """``{"force": true}`` in the tick's data: register even below the thresholds.

    >>> forced(b'{"domains": ["eta"], "force": true}'), forced(b"{}")
    (True, False)
    """
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data) if data else None
        except ValueError:
            return False
    return isinstance(data, dict) and data.get("force") is True


def requested_domains(data: Any) -> list[str]:
    """Domains named in the tick's data (``{"domains": [...]}``), default all.

    >>> requested_domains(b'{"domains": ["eta"]}')
    ['eta']
    """
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data) if data else None
        except ValueError:
            raise InvalidEvent("data", "not valid JSON") from None
    names = data.get("domains") if isinstance(data, dict) else None
    if names is None:
        return sorted(domains.REGISTRY)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidEvent("data.domains", "expected a list of domain names")
    for name in names:
        if name not in domains.REGISTRY:
            raise InvalidEvent("data.domains", f"unknown domain {name!r}")
    return list(dict.fromkeys(names))
