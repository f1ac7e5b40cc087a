"""Fit a domain's batch model in steps, so a training reports progress and can stop cleanly.

Supervised estimators with ``warm_start`` and ``max_iter`` (the boosted trees) are grown in
about ten chunks of iterations; between chunks ``tick(fraction, message)`` reports and may
raise to stop. Clustering searches K over ``BatchSpec.k_range`` on the training rows: one
fit per K, its silhouette (on up to 3,000 rows), Calinski-Harabasz and Davies-Bouldin and
inertia recorded and reported live (``on_k``), the best silhouette wins (ties: the smaller K).

The preprocessing is fitted once on the training rows and never sees the holdout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coelho.batch import features, metrics
from coelho.domains import Domain

Tick = Callable[[float, str], None]
CHUNKS = 10


@dataclass
class Fitted:
    preprocessor: Any
    model: Any
    pipeline: Any
    x_train: Any  # the transformed training matrix (clustering metrics, PCA)
    seconds: float
    k_log: list[dict[str, float]] = field(default_factory=list)


def fit(
    domain: Domain,
    x: Any,
    y: Any,
    tick: Tick,
    on_k: Callable[[list[dict[str, float]]], None] | None = None,
) -> Fitted:
    started = time.perf_counter()
    preprocessor = features.preprocessor(domain)
    x_train = preprocessor.fit_transform(x)
    tick(0.05, f"features: {x_train.shape[1]} columns from {x.shape[1]} fields")
    model = features.estimator(domain)
    k_log: list[dict[str, float]] = []
    if domain.task == "clustering":
        model, k_log = _search_k(domain, model, x_train, tick, on_k)
    else:
        _grow(model, x_train, y, tick)
    pipeline = features.pipeline(domain, preprocessor, model)
    return Fitted(preprocessor, model, pipeline, x_train, time.perf_counter() - started, k_log)


def _grow(model: Any, x: Any, y: Any, tick: Tick) -> None:
    params = model.get_params()
    total = params.get("max_iter")
    if not isinstance(total, int) or "warm_start" not in params:
        model.fit(x, y)
        tick(1.0, "fitted")
        return
    chunk = max(1, total // CHUNKS)
    model.set_params(warm_start=True)
    done = 0
    while done < total:
        done = min(total, done + chunk)
        model.set_params(max_iter=done)
        model.fit(x, y)
        tick(done / total, f"{done}/{total} boosting iterations")
    # Leave the logged (and any later refit's) parameters as configured.
    model.set_params(warm_start=False)


def _search_k(
    domain: Domain,
    model: Any,
    x: Any,
    tick: Tick,
    on_k: Callable[[list[dict[str, float]]], None] | None,
) -> tuple[Any, list[dict[str, float]]]:
    from sklearn.base import clone

    spec = domain.batch
    assert spec is not None
    low, high = spec.k_range
    high = min(high, len(x) - 1)
    candidates = list(range(low, high + 1))
    log: list[dict[str, float]] = []
    best: tuple[float, int, Any] | None = None
    for i, k in enumerate(candidates):
        fitted = clone(model).set_params(n_clusters=k).fit(x)
        found = metrics.evaluate(
            ("silhouette", "calinski_harabasz", "davies_bouldin", "inertia"),
            metrics.clustering(x, fitted.labels_, float(fitted.inertia_)),
        )
        entry = {"k": float(k), **found}
        log.append(entry)
        if on_k is not None:
            on_k(list(log))
        score = found.get("silhouette", float("-inf"))
        if best is None or score > best[0]:
            best = (score, k, fitted)
        tick((i + 1) / len(candidates), f"K={k}: silhouette {score:.3f}")
    assert best is not None, f"{domain.key}: no K to search in {spec.k_range}"
    return best[2], log
