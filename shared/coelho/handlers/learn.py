"""The learn function: validate a CloudEvent, append it to the domain's log, answer 202."""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

import redis
from flask import Request

from coelho import domains, events, telemetry
from coelho.errors import CoelhoError, StateTampered
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.settings import Settings
from coelho.state import CheckpointStore, EventLog, Keys
from coelho.state.sidecar import WriterProcess

log = logging.getLogger(__name__)


class LearnService:
    """Owns the Redis client, the log and this process's writer child for one domain."""

    def __init__(self, domain: str, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.domain = domains.get(domain)
        self.client = redis.Redis.from_url(self.settings.redis_url)
        self.keys = Keys(self.domain.key)
        self.log = EventLog(self.client, self.domain.key, self.settings.dedupe_ttl_seconds)
        self.store = CheckpointStore(
            self.client, self.domain.key, self.settings.state_key, self.settings.log_retention
        )
        self.writer: WriterProcess | None = None
        self._writer_pid: int | None = None
        self._start_lock = threading.Lock()
        self._verified = False
        # Label children bound once: ``labels()`` takes a lock and a dict lookup per call.
        key = self.domain.key
        self._received = telemetry.EVENTS_RECEIVED.labels(key)
        self._appended = telemetry.EVENTS_APPENDED.labels(key)
        self._duplicates = telemetry.EVENTS_DUPLICATE.labels(key)
        self._seconds = telemetry.LEARN_SECONDS.labels(key)
        telemetry.watch_redis_memory(lambda: self.client.info("memory"))

    def _ensure_writer(self) -> None:
        """Start (or restart) the writer process from the process that serves requests.

        functions-framework imports ``main.py`` in gunicorn's master and forks the worker: a
        child started at import would belong to the master, which serves nothing.
        """
        if self._writer_pid != os.getpid():
            with self._start_lock:
                if self._writer_pid != os.getpid():
                    self.writer = WriterProcess(self.domain.key)
                    atexit.register(self.writer.stop)
                    self._writer_pid = os.getpid()
        assert self.writer is not None
        self.writer.ensure()

    def ready(self) -> tuple[bool, str]:
        """Ready once the domain's state is known to load (or there is none yet)."""
        status = self.writer.status() if self.writer else None
        if status and status.error:
            return False, status.error
        if not self._verified:
            try:
                self.store.load()
            except StateTampered as exc:
                return False, str(exc)
            except redis.RedisError as exc:
                return False, f"redis unavailable: {exc}"
            self._verified = True
        if status and status.holding:
            return True, "writer"
        code = self.writer.exit_code if self.writer else None
        if code is not None and not (status and status.running):
            # Appends go on (events are durable in the log); another replica's writer may learn.
            return True, f"state verified; writer process restarting (exited {code})"
        return True, "state verified"

    def learn(self, request: Request) -> Response:
        started = time.perf_counter()
        key = self.domain.key
        try:
            headers = events.wsgi_headers(request.environ)
            event = events.domain_event(self.domain, headers, request.get_data())
        except CoelhoError as exc:
            telemetry.EVENTS_REJECTED.labels(key, type(exc).__name__).inc()
            self._count_rejected()
            return error_response(exc)
        try:
            result = self.log.append(event.source, event.id, event.data, event.position)
        except redis.RedisError as exc:
            # 503 is retried by the Broker: the event is not lost, only delayed.
            return json_response({"error": "Unavailable", "message": str(exc)}, 503)
        self._received.inc()
        (self._duplicates if result.duplicate else self._appended).inc()
        self._seconds.observe(time.perf_counter() - started)
        return "", 202

    def _count_rejected(self) -> None:
        try:
            self.client.hincrby(self.keys.counters, "rejected", 1)
        except redis.RedisError:
            log.warning("could not count a rejected event for %s", self.domain.key)

    def handle(self, request: Request) -> Response:
        self._ensure_writer()
        return route(request, self.learn, self.ready, self._writer_metrics)

    def _writer_metrics(self) -> bytes | None:
        return self.writer.metrics() if self.writer else None
