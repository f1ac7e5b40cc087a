"""The archive function: a PingSource tick in, every domain's new log entries into Delta.

A tick (``dev.knative.sources.ping``, data ``{"task": "archive"|"maintain", "domains": [...]}``,
both optional) is worked in the request, bounded by ``COELHO_ARCHIVE_BUDGET_SECONDS`` per
domain, then answered 202 (``?wait=1``: 200 with the per-domain report); a failed domain makes
it a 500 with the report, after the other domains ran. A tick arriving while this process is
still working one is answered 202 at once and does nothing: the running pass drains the log,
and the next tick continues whatever the budget left. Exactly-once does not depend on this
lock: two archivers racing on one table lose a commit race, not an event
(coelho.lakehouse.archive).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import redis
from flask import Request
from prometheus_client import Counter, Gauge

from coelho import domains, events
from coelho.errors import CoelhoError, InvalidEvent
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.lakehouse.archive import DomainArchive
from coelho.lakehouse.deadletters import archive_dead_letters
from coelho.lakehouse.maintenance import maintain
from coelho.lakehouse.storage import Storage
from coelho.settings import LakehouseSettings, Settings

log = logging.getLogger(__name__)

RUNS = Counter("coelho_archive_runs", "Archive passes by outcome (ok, failed)",
               ["domain", "outcome"])  # fmt: skip
ARCHIVED = Counter("coelho_archived_events", "Log entries committed to Delta", ["domain"])
LAG_EVENTS = Gauge("coelho_archive_lag_events", "Log entries not yet archived", ["domain"])
LAG_SECONDS = Gauge(
    "coelho_archive_lag_seconds", "Age of the oldest log entry not yet archived", ["domain"]
)
TABLE_ROWS = Gauge("coelho_archive_table_rows", "Rows in the domain's Delta table", ["domain"])
LAST_SUCCESS = Gauge(
    "coelho_archive_last_success_timestamp_seconds", "When a pass last succeeded", ["domain"]
)
DEAD_LETTERS_ARCHIVED = Counter(
    "coelho_dead_letters_archived", "Dead-lettered records written to the raw-data bucket"
)
TASKS = ("archive", "maintain")


class ArchiveService:
    def __init__(
        self, settings: Settings | None = None, lakehouse: LakehouseSettings | None = None
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.lakehouse = lakehouse or LakehouseSettings.from_env()
        self.client = redis.Redis.from_url(self.settings.redis_url)
        self.storage = Storage(self.lakehouse)
        self.archives = {key: DomainArchive(d, self.client, self.storage)
                         for key, d in domains.REGISTRY.items() if d.table}  # fmt: skip
        self._busy = threading.Lock()
        for key in self.archives:  # series exist from the start: "never succeeded" is visible
            LAST_SUCCESS.labels(key)
            for outcome in ("ok", "failed"):
                RUNS.labels(key, outcome)

    def ready(self) -> tuple[bool, str]:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            return False, f"redis unavailable: {exc}"
        return True, f"archiving {sorted(self.archives)} to {self.storage.table_uri('')}"

    def trigger(self, request: Request) -> Response:
        try:
            event = events.parse(request.headers, request.get_data())
            kind = event.get_attributes().get("type")
            if kind != events.PING_EVENT_TYPE:
                raise InvalidEvent("type", f"expected {events.PING_EVENT_TYPE}, got {kind!r}")
            task, wanted = _tick(event.data)
        except CoelhoError as exc:
            return error_response(exc)
        wait = request.args.get("wait", "").lower() in ("1", "true", "yes")
        if not self._busy.acquire(blocking=wait):
            return "", 202
        try:
            report = self.run(task, [d for d in wanted if d in self.archives])
        finally:
            self._busy.release()
        failed = any(r.get("status") == "failed" for r in report.values())
        if failed:
            return json_response(report, 500)
        return json_response(report) if wait else ("", 202)

    def run(self, task: str, wanted: list[str]) -> dict[str, dict[str, Any]]:
        report = {key: self._one(task, key) for key in wanted}
        if task == "archive":
            try:
                written = archive_dead_letters(self.client, self.storage)
                DEAD_LETTERS_ARCHIVED.inc(written)
                report["dead-letters"] = {"status": "ok", "archived": written}
            except Exception as exc:  # noqa: BLE001 - reported, retried next tick
                log.exception("dead-letter archive failed")
                report["dead-letters"] = {"status": "failed", "error": _describe(exc)}
        return report

    def _one(self, task: str, key: str) -> dict[str, Any]:
        archive = self.archives[key]
        try:
            if task == "maintain":
                return {"status": "ok", **maintain(archive, self.lakehouse.vacuum_hours)}
            result = archive.run(
                self.lakehouse.archive_budget_seconds, self.lakehouse.archive_batch
            )
        except Exception as exc:  # noqa: BLE001 - one domain's failure must not stop the others
            log.exception("%s of %s failed", task, key)
            RUNS.labels(key, "failed").inc()
            return {"status": "failed", "error": _describe(exc)}
        RUNS.labels(key, "ok").inc()
        ARCHIVED.labels(key).inc(result.archived)
        LAG_SECONDS.labels(key).set(result.lag_seconds)
        if result.lag_events is not None:
            LAG_EVENTS.labels(key).set(result.lag_events)
        TABLE_ROWS.labels(key).set(result.table_rows)
        LAST_SUCCESS.labels(key).set_to_current_time()
        if result.gap:
            log.error("archive %s: log entries after %s were trimmed before they were archived",
                      key, result.position)  # fmt: skip
        return {"status": "ok", **result.as_dict()}

    def handle(self, request: Request) -> Response:
        return route(request, self.trigger, self.ready)


def _tick(data: Any) -> tuple[str, list[str]]:
    """The task and domains of a tick's data (default: archive every domain)."""
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data) if data else None
        except ValueError:
            raise InvalidEvent("data", "not valid JSON") from None
    data = data if isinstance(data, dict) else {}
    task = data.get("task", "archive")
    if task not in TASKS:
        raise InvalidEvent("data.task", f"expected one of {', '.join(TASKS)}, got {task!r}")
    names = data.get("domains", sorted(domains.REGISTRY))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidEvent("data.domains", "expected a list of domain names")
    unknown = [n for n in names if n not in domains.REGISTRY]
    if unknown:
        raise InvalidEvent("data.domains", f"unknown domain {unknown[0]!r}")
    return str(task), list(dict.fromkeys(names))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
