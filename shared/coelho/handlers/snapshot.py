"""The snapshot function: on each PingSource tick, register every domain whose state moved.

Per domain: read the checkpoint version from Redis (one HMGET); if it moved since the last
snapshot, load the checkpoint (verified), log an MLflow run with the model, register a new
version of ``<domain>-river`` and apply the promotion policy (``coelho.registry``). Snapshots
read the checkpoint, never the writer, so they never block learning. A state the guard found
unhealthy is registered with a ``coelho.health`` tag saying so and never promoted; the
champion's metrics are left in the domain's snapshot hash for the writer's guard.

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
        except CoelhoError as exc:
            return error_response(exc)
        if request.args.get("wait", "").lower() in ("1", "true", "yes"):
            return json_response(self.run(wanted))
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

    def run(self, wanted: Iterable[str]) -> dict[str, dict[str, Any]]:
        """One synchronous pass (waits for a background pass to finish first)."""
        with self._busy:
            return self._run_unlocked(list(wanted))

    def _run_unlocked(self, wanted: list[str]) -> dict[str, dict[str, Any]]:
        report = {key: self.snapshot(key) for key in wanted}
        self.last_report.update(report)
        return report

    def snapshot(self, domain: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            outcome = self._snapshot(domain)
        except Exception as exc:  # noqa: BLE001 - one domain's failure must not stop the others
            log.exception("snapshot %s failed", domain)
            outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:500]}
        SNAPSHOTS.labels(domain, outcome["status"]).inc()
        if outcome["status"] in ("registered", "unchanged"):
            LAST_SUCCESS.labels(domain).set_to_current_time()
        if outcome["status"] == "registered":
            SNAPSHOT_SECONDS.labels(domain).observe(time.perf_counter() - started)
        return outcome

    def _snapshot(self, domain: str) -> dict[str, Any]:
        keys = Keys(domain)
        version, learned = self.client.hmget(keys.checkpoint, ["version", "events_learned"])
        if version is None:
            return {"status": "no-state"}
        state_version, events_learned = int(version), int(learned or 0)
        marker = self.client.hgetall(keys.snapshot)
        if int(marker.get(b"state_version", -1)) == state_version:
            return {"status": "unchanged", "state_version": state_version,
                    "version": int(marker.get(b"registered_version", 0))}  # fmt: skip
        token = secrets.token_hex(8)
        if not self.client.set(keys.snapshot_lock, token, nx=True, px=LOCK_MS):
            return {"status": "busy", "state_version": state_version}
        try:
            return self._publish(domain, keys, state_version, events_learned,
                                 reset=b"reset" in marker)  # fmt: skip
        finally:
            self._release(keys=[keys.snapshot_lock], args=[token])

    def _publish(
        self, domain: str, keys: Keys, state_version: int, events_learned: int, reset: bool
    ) -> dict[str, Any]:
        from coelho.registry import shared
        from coelho.state.checkpoint import CheckpointStore

        registry = shared()
        newest = next(iter(registry.versions(domain)), None)
        # After ``coelho reset`` the count can match while the state differs (a new lineage).
        if newest is not None and newest.events_learned == events_learned and not reset:
            # Same state under a new version number (e.g. restored after Redis lost it).
            self._mark(keys, state_version, newest.version, newest.run_id)
            return {"status": "unchanged", "state_version": state_version,
                    "version": newest.version}  # fmt: skip
        checkpoint = CheckpointStore(self.client, domain, self.settings.state_key).load()
        if checkpoint is None:
            return {"status": "no-state"}
        info = registry.publish(domain, checkpoint.model, checkpoint.version, checkpoint.saved_at,
                                self.settings.state_key, checkpoint.position)  # fmt: skip
        promoted, reason = registry.consider(domain, info)
        self._mark(keys, checkpoint.version, info.version, info.run_id)
        self.client.hdel(keys.snapshot, "reset")
        champion = info if promoted else registry.champion(domain)
        if champion is not None:
            self.client.hset(keys.snapshot, "champion_metrics", json.dumps(champion.metrics))
        log.info("snapshot %s: state v%d -> %s v%d (%s)", domain, checkpoint.version,
                 info.version, info.version, reason)  # fmt: skip
        return {"status": "registered", "version": info.version, "run_id": info.run_id,
                "state_version": checkpoint.version, "events_learned": info.events_learned,
                "health": info.health, "promoted": promoted, "reason": reason}  # fmt: skip

    def _mark(self, keys: Keys, state_version: int, version: int, run_id: str) -> None:
        self.client.hset(keys.snapshot, mapping={
            "state_version": state_version, "registered_version": version,
            "run_id": run_id, "at": time.time(),
        })  # fmt: skip


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
