"""``?model=batch`` and ``?model=batch:N`` in the predict functions: ``<domain>-batch`` versions.

``batch`` is the version the alias ``champion`` of ``<domain>-batch`` points at (moved to the
best run by every training, coelho.batch.registry), re-resolved at most every
``COELHO_PREDICT_ALIAS_TTL_SECONDS``; ``batch:N`` is version N, immutable, cached (up to 4).
A version is loaded only after its model file's HMAC (version tag ``coelho.model_hmac``,
COELHO_STATE_KEY) verifies, then with skops and the reviewed types of coelho.batch.registry.
Importing this module is free: MLflow and scikit-learn are imported by the first batch
request, so the live path's cold start does not grow (tests/unit/test_predict_lightload.py).
Predictions run with one OpenMP thread: one row gains nothing from a thread pool, and spinning
threads would compete with the request threads.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from coelho.batch.answers import answer
from coelho.errors import ModelNotReady, StateTampered
from coelho.serving import (
    MAX_CACHED_VERSIONS,
    MODEL_LOAD_SECONDS,
    MODEL_RELOADS,
    ModelNotFound,
    Selector,
    Served,
    _env_float,
)


class BatchModel:
    """A registered scikit-learn pipeline that answers one event like the live model does."""

    def __init__(self, domain: str, pipeline: Any, rows: int) -> None:
        from coelho.domains import get

        self.domain = domain
        self.task = get(domain).task
        self.pipeline = pipeline
        self.events_learned = rows
        self.model_name = type(pipeline.steps[-1][1]).__name__

    def predict(self, event: dict[str, Any]) -> dict[str, Any]:
        from coelho.batch.frame import from_events
        from coelho.domains import get

        x = from_events(get(self.domain), [event])
        if self.task == "binary":
            return answer("binary", float(self.pipeline.predict_proba(x)[0, 1]))
        if self.task == "regression":
            return answer("regression", float(self.pipeline.predict(x)[0]))
        model = self.pipeline.steps[-1][1]
        return answer("clustering", int(self.pipeline.predict(x)[0]), int(model.n_clusters))


def _client() -> Any:
    from coelho.batch.registry import _mlflow

    return _mlflow(None)


def resolve(domain: str) -> int:
    """The version ``champion`` of ``<domain>-batch`` points at (503 while there is none)."""
    from mlflow.exceptions import MlflowException

    from coelho.batch.registry import registered_name
    from coelho.registry import CHAMPION

    name = registered_name(domain)
    try:
        return int(_client().MlflowClient().get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        raise ModelNotReady(
            f"no batch model for {domain} yet ({exc.error_code}): train one "
            f"(`coelho train {domain}` or the Batch ML page)"
        ) from None


def load(domain: str, version: int, key: bytes) -> Served:
    """Version ``version`` of ``<domain>-batch``, its signature verified before it is loaded."""
    import hmac
    import tempfile
    from pathlib import Path

    # One OpenMP thread for every request thread: libgomp reads OMP_NUM_THREADS once, when
    # scikit-learn first loads it (here, on the first batch request), while threadpoolctl's
    # limit below only binds the thread that sets it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import skops.io
    from mlflow.exceptions import MlflowException
    from threadpoolctl import threadpool_limits

    from coelho.batch.registry import HMAC_TAG, TRUSTED, model_file, registered_name
    from coelho.registry import TAG
    from coelho.state.checkpoint import sign

    mlflow = _client()
    name = registered_name(domain)
    try:
        mv = mlflow.MlflowClient().get_model_version(name, str(version))
    except MlflowException:
        raise ModelNotFound(f"{name} has no version {version}") from None
    what = f"{name} version {mv.version}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path, blob = model_file(f"models:/{name}/{mv.version}", Path(tmp))
            if not hmac.compare_digest(sign(blob, key), (mv.tags or {}).get(HMAC_TAG, "")):
                raise StateTampered(f"{what}: model signature does not verify; refusing to load")
            pipeline = skops.io.load(path, trusted=list(TRUSTED))
    except (MlflowException, OSError) as exc:
        raise ModelNotReady(f"cannot load {what}: {exc}") from None
    threadpool_limits(limits=1, user_api="openmp")
    rows = int((mv.tags or {}).get(f"{TAG}train_rows") or 0)
    extra = {"registered_model": name, "run_id": mv.run_id}
    model = BatchModel(domain, pipeline, rows)
    return Served(model, "batch", int(mv.version), mv.creation_timestamp / 1000, extra)


class BatchSource:
    """The batch versions of one domain, loaded on first use and cached."""

    def __init__(
        self,
        domain: str,
        key: bytes,
        resolver: Callable[[str], int] = resolve,
        loader: Callable[[str, int, bytes], Served] = load,
    ) -> None:
        self.domain = domain
        self.key = key
        self.alias_ttl = _env_float("COELHO_PREDICT_ALIAS_TTL_SECONDS", 10.0)
        self._resolve, self._load = resolver, loader
        self._versions: OrderedDict[int, Served] = OrderedDict()
        self._alias: tuple[float, int] | None = None
        self._lock = threading.Lock()

    def current(self, selector: Selector) -> Served:
        with self._lock:
            if selector.version is not None:
                version = selector.version
            elif self._alias is not None and time.monotonic() < self._alias[0]:
                version = self._alias[1]
            else:
                version = self._resolve(self.domain)
                self._alias = (time.monotonic() + self.alias_ttl, version)
            served = self._versions.get(version)
            if served is None:
                started = time.perf_counter()
                served = self._load(self.domain, version, self.key)
                elapsed = time.perf_counter() - started
                MODEL_LOAD_SECONDS.labels(self.domain, "batch").observe(elapsed)
                MODEL_RELOADS.labels(self.domain, "batch").inc()
                self._versions[version] = served
                while len(self._versions) > MAX_CACHED_VERSIONS:
                    self._versions.popitem(last=False)
            self._versions.move_to_end(version)
        return served
