"""Model sources for the predict functions: the live Redis state, or a registered version.

A predict replica keeps one model per source in memory and answers from it; nothing on the
request path unpickles or imports more than the model needs.

``live``
    The domain's checkpoint in Redis. Predict functions keep it as fresh as the stream by
    applying the log after it (``coelho.replica.LiveReplica``, built on ``LiveSource``; a
    pipeline too costly to follow reloads checkpoints from its thread instead).
    ``LiveSource`` alone polls checkpoints from the request path: at most once every
    ``COELHO_PREDICT_STALENESS_MS`` (default 250 ms) one request thread reads the checkpoint's
    version and size with one ``HMGET``; only when the version moved is the blob loaded. A blob
    up to ``COELHO_PREDICT_INLINE_RELOAD_BYTES`` (default 1 MiB, about 5 ms to unpickle) is reloaded
    by that thread; a bigger one (forests) in a background thread while the old model keeps
    answering, then swapped in by one reference assignment. Staleness bound: an answer reflects
    every checkpoint written more than 250 ms + reload time earlier; the writer checkpoints
    every ``COELHO_CHECKPOINT_SECONDS`` (2 s) while learning, so a prediction lags the log by at
    most about 2.3 s for small models. If Redis becomes unreachable or loses the state, the
    last loaded model keeps answering (availability over freshness).
``champion`` / ``latest``
    The version an MLflow alias of ``<domain>-river`` points at, re-resolved at most every
    ``COELHO_PREDICT_ALIAS_TTL_SECONDS`` (default 10 s). MLflow is imported only when such a
    source is first requested (it costs about 1.3 s).
``version=N``
    A registered version; immutable, so it is loaded once and cached (up to 4 versions).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client import Counter, Gauge, Histogram

from coelho.errors import CoelhoError, InvalidEvent, ModelNotReady
from coelho.lightload import loads_for_serving
from coelho.state.checkpoint import Checkpoint, CheckpointStore
from coelho.state.keys import Keys
from coelho.telemetry import LATENCY_BUCKETS

log = logging.getLogger(__name__)

PREDICT_REQUESTS = Counter(
    "coelho_predict_requests", "Predict requests by answer code", ["domain", "source", "code"]
)
PREDICT_LATENCY = Histogram(
    "coelho_predict_latency_seconds", "Predict request handling time", ["domain", "source"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
MODEL_VERSION_SERVED = Gauge(
    "coelho_model_version_served",
    "Version of the model a source answers from",
    ["domain", "source"],
)
PREDICT_FALLBACKS = Counter(
    "coelho_predict_fallbacks",
    "Live requests answered by the champion instead, by the live model's state",
    ["domain", "state"],
)
MODEL_RELOADS = Counter(
    "coelho_model_reloads", "Models (re)loaded into this replica", ["domain", "source"]
)
MODEL_LOAD_SECONDS = Histogram(
    "coelho_model_load_seconds", "Time to fetch and unpickle a model", ["domain", "source"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)  # fmt: skip

SOURCES = ("live", "champion", "latest", "version", "batch")
MAX_CACHED_VERSIONS = 4


class ModelNotFound(CoelhoError):
    """The requested registered version does not exist."""

    status = 404


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


@dataclass(frozen=True)
class Selector:
    """Which model a request wants: a source, and the version number for ``version``."""

    source: str
    version: int | None = None

    @property
    def label(self) -> str:
        return self.source

    @classmethod
    def parse(cls, raw: str | None) -> Selector:
        """``live`` (default), ``champion``, ``latest``, ``N``, ``vN``, ``version=N``, ``batch``
        or ``batch:N``.

        >>> Selector.parse("version=3")
        Selector(source='version', version=3)
        >>> Selector.parse(None)
        Selector(source='live', version=None)
        >>> Selector.parse("batch:2")
        Selector(source='batch', version=2)
        """
        text = (raw or "live").strip().lower()
        if text in ("live", "champion", "latest"):
            return cls(text)
        # The scikit-learn model (coelho.batch.serving): its champion, or version N.
        if text == "batch":
            return cls("batch")
        if text.startswith("batch:") and text[6:].isdigit() and int(text[6:]) > 0:
            return cls("batch", int(text[6:]))
        number = text.removeprefix("version=").removeprefix("v")
        if number.isdigit() and int(number) > 0:
            return cls("version", int(number))
        raise InvalidEvent(
            "model",
            f"{raw!r} is not a model source; use live, champion, latest, a version N, "
            "batch or batch:N",
        )


@dataclass
class Served:
    """One loaded model and what the response says about it."""

    model: Any
    source: str
    version: int
    updated_at: float
    extra: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        stamp = datetime.fromtimestamp(self.updated_at, UTC).isoformat(timespec="milliseconds")
        return {"source": self.source, "version": self.version, "updated_at": stamp,
                "events_learned": int(getattr(self.model, "events_learned", 0)),
                "model": getattr(self.model, "model_name", ""), **self.extra}  # fmt: skip

    def predict(self, event: dict[str, Any]) -> dict[str, Any]:
        # River models are not thread-safe: DBSTREAM reclusters inside predict_one.
        with self.lock:
            return dict(self.model.predict(event))

    def answer(self, event: dict[str, Any]) -> dict[str, Any]:
        """The prediction and, read under the same lock, the model that made it (a live
        replica applies log entries between requests: coelho.replica)."""
        with self.lock:
            answer = dict(self.model.predict(event))
            answer["model"] = self.describe()
        return answer


class LiveSource:
    """The domain's Redis checkpoint, hot-reloaded when its version moves (see module doc)."""

    def __init__(
        self,
        client: redis.Redis,
        domain: str,
        key: bytes,
        *,
        staleness: float | None = None,
        inline_bytes: int | None = None,
    ) -> None:
        self.domain = domain
        self.client = client
        self.keys = Keys(domain)
        self.store = CheckpointStore(client, domain, key)
        self.staleness = (
            staleness
            if staleness is not None
            else _env_float("COELHO_PREDICT_STALENESS_MS", 250) / 1000
        )
        self.inline_bytes = (
            inline_bytes
            if inline_bytes is not None
            else int(os.environ.get("COELHO_PREDICT_INLINE_RELOAD_BYTES", 1 << 20))
        )
        self.served: Served | None = None
        self.last_error: str | None = None
        self._next_check = 0.0
        self._check_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._background: threading.Thread | None = None

    def current(self) -> Served:
        """The model to answer with; ``ModelNotReady`` while the domain has none."""
        now = time.monotonic()
        if now >= self._next_check and self._check_lock.acquire(blocking=False):
            try:
                self._next_check = now + self.staleness
                self._check()
            finally:
                self._check_lock.release()
        served = self.served
        if served is None:
            raise ModelNotReady(
                self.last_error
                or f"no model for {self.domain} yet: the learn function has not checkpointed "
                "any state (send events, then retry)"
            )
        return served

    def _check(self) -> None:
        try:
            version, size = self.client.hmget(self.keys.checkpoint, ["version", "bytes"])
        except redis.RedisError as exc:
            self.last_error = f"redis unavailable: {exc}"
            log.warning("predict %s: %s (keeping the loaded model)", self.domain, exc)
            return
        if version is None or int(version) == (self.served.version if self.served else 0):
            return
        if self.served is None or int(size or 0) <= self.inline_bytes:
            self.reload()
        elif self._background is None or not self._background.is_alive():
            self._background = threading.Thread(
                target=self.reload, name=f"reload-{self.domain}", daemon=True
            )
            self._background.start()

    def reload(self) -> bool:
        """Load the current checkpoint and swap it in; False when there is none (or no Redis)."""
        with self._reload_lock:
            started = time.perf_counter()
            try:
                checkpoint = self._load()
            except redis.RedisError as exc:
                self.last_error = f"redis unavailable: {exc}"
                return False
            except CoelhoError as exc:  # StateTampered: never serve unverified state
                self.last_error = str(exc)
                log.error("predict %s: %s", self.domain, exc)
                return False
            if checkpoint is None:
                return False
            if self.served is not None and checkpoint.version <= self.served.version:
                return True
            self.served = Served(
                checkpoint.model, "live", checkpoint.version, checkpoint.saved_at,
                {"bytes": checkpoint.size},
            )  # fmt: skip
            self.last_error = None
        MODEL_LOAD_SECONDS.labels(self.domain, "live").observe(time.perf_counter() - started)
        MODEL_RELOADS.labels(self.domain, "live").inc()
        MODEL_VERSION_SERVED.labels(self.domain, "live").set(checkpoint.version)
        log.info("predict %s: live model version %d loaded in %.1f ms", self.domain,
                 checkpoint.version, (time.perf_counter() - started) * 1000)  # fmt: skip
        return True

    def _load(self) -> Checkpoint | None:
        """``CheckpointStore.load`` without importing the metrics (``coelho.lightload``)."""
        fields = self.client.hgetall(self.keys.checkpoint)
        if not fields or b"blob" not in fields:
            return None
        blob = fields[b"blob"]
        model = loads_for_serving(blob, fields.get(b"mac", b"").decode(), self.store.key,
                                  f"checkpoint of {self.domain}")  # fmt: skip
        return Checkpoint(model, fields[b"position"].decode(), int(fields[b"version"]),
                          float(fields[b"saved_at"]), len(blob))  # fmt: skip

    def wait_for_background(self, timeout: float = 30.0) -> None:
        """Tests: wait until a background reload (if any) finished."""
        if self._background is not None:
            self._background.join(timeout)


Loader = Callable[[str, Selector], Served]


class RegistrySource:
    """Registered versions from MLflow, loaded on first use (MLflow is imported lazily)."""

    def __init__(self, domain: str, key: bytes, loader: Loader | None = None) -> None:
        self.domain = domain
        self.key = key
        self.alias_ttl = _env_float("COELHO_PREDICT_ALIAS_TTL_SECONDS", 10.0)
        self._loader = loader
        self._versions: OrderedDict[int, Served] = OrderedDict()
        self._aliases: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _load(self, selector: Selector) -> Served:
        if self._loader is None:
            from coelho.registry import load_served  # MLflow only when a request needs it

            self._loader = lambda domain, sel: load_served(domain, sel, self.key)
        started = time.perf_counter()
        served = self._loader(self.domain, selector)
        MODEL_LOAD_SECONDS.labels(self.domain, selector.source).observe(
            time.perf_counter() - started
        )
        MODEL_RELOADS.labels(self.domain, selector.source).inc()
        return served

    def current(self, selector: Selector) -> Served:
        with self._lock:
            if selector.source == "version":
                assert selector.version is not None
                served = self._versions.get(selector.version)
                if served is None:
                    served = self._remember(self._load(selector))
                served = self._relabel(served, "version")
            else:
                served = self._alias(selector)
        MODEL_VERSION_SERVED.labels(self.domain, selector.source).set(served.version)
        return served

    def _alias(self, selector: Selector) -> Served:
        cached = self._aliases.get(selector.source)
        if cached is not None and time.monotonic() < cached[0]:
            served = self._versions.get(cached[1])
            if served is not None:
                return self._relabel(served, selector.source)
        served = self._load(selector)
        known = self._versions.get(served.version)
        self._remember(known or served)
        self._aliases[selector.source] = (time.monotonic() + self.alias_ttl, served.version)
        return self._relabel(known or served, selector.source)

    def _remember(self, served: Served) -> Served:
        self._versions[served.version] = served
        self._versions.move_to_end(served.version)
        while len(self._versions) > MAX_CACHED_VERSIONS:
            self._versions.popitem(last=False)
        return served

    @staticmethod
    def _relabel(served: Served, source: str) -> Served:
        if served.source == source:
            return served
        return Served(served.model, source, served.version, served.updated_at,
                      dict(served.extra), served.lock)  # fmt: skip
