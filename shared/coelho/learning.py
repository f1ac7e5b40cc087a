"""The prequential model of one domain: predict, update the metrics, then learn.

``OnlineModel`` is the whole learnable state of a domain (pipeline, metrics, counters and the
Kafka offsets it covers). It is what checkpoints pickle and what predict functions load, so it
knows nothing about Redis or HTTP. The seed learned before predicting, which flatters every
metric; here each event is scored by a model that has not seen it yet, and that score also
feeds the model's guard (``coelho.guard``).
"""

from __future__ import annotations

import copy
import logging
import math
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from coelho.domains import Domain, get
from coelho.domains.base import Event, Features
from coelho.errors import ModelDiverged
from coelho.guard import FAR_OUT, Health

log = logging.getLogger(__name__)
_FAILED_METRICS: set[str] = set()
# Where the latest scored events happened and the cluster each got (the ECCI map): bounded.
RECENT_LOCATIONS = 300


def _score(name: str, update: Callable[..., Any], *args: Any) -> None:
    """Update one metric; a metric that raises is logged once and never stops learning."""
    try:
        update(*args)
    except Exception:  # noqa: BLE001 - bookkeeping must not change what the model learns
        if name not in _FAILED_METRICS:
            _FAILED_METRICS.add(name)
            log.exception("metric %s failed to update; the model keeps learning", name)


class OnlineModel:
    """A domain's pipeline plus its prequential metrics.

    >>> from coelho.domains import get
    >>> m = OnlineModel.create("eta")
    >>> events = get("eta").produce(seed=1)
    >>> for _ in range(3):
    ...     m.learn(next(events))
    >>> m.events_learned
    3
    """

    def __init__(self, domain: str, model_name: str, pipeline: Any, metrics: dict[str, Any]):
        self.domain = domain
        self.model_name = model_name
        self.pipeline = pipeline
        self.metrics = metrics
        self.events_learned = 0
        self.offsets: dict[str, dict[int, int]] = {}
        self.cluster_counts: Counter[int] = Counter()
        self.cluster_profiles: dict[int, dict[str, Counter[Any]]] = {}
        self.health = Health(get(domain).guard)
        self.last_prediction: float | None = None
        self.recent_locations: deque[tuple[float, float, int]] = deque(maxlen=RECENT_LOCATIONS)
        self._metrics_checked = True
        self._timed: frozenset[str] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Older checkpoints load whole: one pickled before the guard existed gets a fresh,
        healthy one. A metric the domain added since is created on the first scored event
        (``_add_new_metrics``), not here: listing the domain's metrics imports
        ``river.metrics``, which a predict function's load must not pay (coelho.lightload)."""
        self.__dict__.update(state)
        if "health" not in state:
            self.health = Health(get(self.domain).guard)
            self.last_prediction = None
        if "recent_locations" not in state:
            self.recent_locations = deque(maxlen=RECENT_LOCATIONS)
        self._metrics_checked = False
        self._timed = None

    def _add_new_metrics(self) -> None:
        """Start, from nothing, every metric of the domain this (older) model lacks; the ones
        it has keep their values."""
        for spec in get(self.domain).metrics():
            if spec.name not in self.metrics and spec.build is not None:
                self.metrics[spec.name] = spec.build()
        self._metrics_checked = True
        self._timed = None

    def _update(self, name: str, metric: Any, when: datetime | None, *args: Any) -> None:
        """``metric.update(*args)``, with the event's time for metrics over a window of event
        time (``coelho.windows``: ``uses_event_time``); an event without a time is not scored
        by those. Which metrics those are is looked up once per model, not per event."""
        timed = self._timed
        if timed is None:
            timed = self._timed = frozenset(
                n for n, m in self.metrics.items() if getattr(m, "uses_event_time", False)
            )
        if name not in timed:
            _score(name, metric.update, *args)
        elif when is not None:
            _score(name, partial(metric.update, t=when), *args)

    @classmethod
    def create(cls, domain_key: str, model_name: str | None = None) -> OnlineModel:
        domain = get(domain_key)
        spec = domain.model(model_name)
        metrics = {m.name: m.build() for m in domain.metrics() if m.build is not None}
        return cls(domain.key, spec.name, spec.build(), metrics)

    @property
    def spec(self) -> Domain:
        return get(self.domain)

    def learn(
        self, event: Event, position: tuple[str, int, int] | None = None, *, score: bool = True
    ) -> None:
        """Apply one validated event prequentially; ``position`` is (topic, partition, offset).

        ``score=False`` (predict replicas, coelho.replica) leaves the metrics and the cluster
        analytics alone but makes exactly the same pipeline calls, so the pipeline ends the
        same. Scoring only reads the prediction; if it raises, the event is still learned
        (logged once per metric), so a replica that does not score can never diverge.
        """
        domain = self.spec
        if score and not self._metrics_checked:
            self._add_new_metrics()
        x = domain.features(event)
        when = domain.event_time(event) if score else None
        if domain.task == "clustering":
            self._learn_cluster(x, event, score, when)
        else:
            self._learn_supervised(domain, x, domain.label(event), score, when)
        self.events_learned += 1
        if position is not None:
            topic, partition, offset = position
            known = self.offsets.setdefault(topic, {})
            known[partition] = max(offset, known.get(partition, -1))

    def _learn_supervised(
        self, domain: Domain, x: Features, y: Any, score: bool, when: datetime | None
    ) -> None:
        if domain.task == "binary":
            proba = self.pipeline.predict_proba_one(x)
            raw = float(proba.get(1, 0.0))
            self.health.observe(raw)
            label = max(proba, key=proba.get) if proba else 0
            clamped = self._clamp(raw)
            for name, metric in self.metrics.items() if score else ():
                y_pred = label if getattr(metric, "requires_labels", False) else clamped
                self._update(name, metric, when, y, y_pred)
        else:
            raw = float(self.pipeline.predict_one(x))
            self.health.observe(raw)
            # The metrics see the answer a predict function gives: within the physical range
            # (a duration is never negative; RMSLE would fail on one).
            y_pred = self._clamp(raw)
            for name, metric in self.metrics.items() if score else ():
                self._update(name, metric, when, y, y_pred)
        self.last_prediction = raw
        self.pipeline.learn_one(copy.copy(x), y)

    def _clamp(self, value: float) -> float:
        """``value`` within the domain's physical range (NaN counts as its low end)."""
        bounds = self.health.range
        if bounds is None:
            return value
        low, high = bounds
        if math.isnan(value):
            return low
        return high if value > high else low if value < low else value

    def _answer(self, raw: float) -> float:
        """A prediction fit to return: clamped, or ``ModelDiverged`` when it is no number or
        far outside the physical range (the predict function then asks the champion)."""
        verdict = self.health.classify(raw)
        if verdict >= FAR_OUT:
            raise ModelDiverged(
                f"{self.domain} model {self.model_name!r} predicted {raw!r}, which is "
                f"{'not finite' if verdict > FAR_OUT else 'far outside its physical range'}"
            )
        return self._clamp(raw)

    def _learn_cluster(self, x: Features, event: Event, score: bool, when: datetime | None) -> None:
        clusterer = self._clusterer()
        if clusterer.n_clusters > 1:
            cluster = self.pipeline.predict_one(x)  # reclusters: a replica must call it too
            if score:
                x_t = self._transform(x)
                for name, metric in self.metrics.items():
                    self._update(name, metric, when, x_t, cluster, clusterer.centers)
                _score("cluster analytics", self._profile, cluster, event)
        self.pipeline.learn_one(copy.copy(x))

    def _profile(self, cluster: int, event: Event) -> None:
        from coelho.domains.ecci import profile

        self.cluster_counts[cluster] += 1
        per_feature = self.cluster_profiles.setdefault(cluster, defaultdict(Counter))
        for feature, value in profile(event).items():
            per_feature[feature][value] += 1
        point = event.get(self.spec.location) if self.spec.location else None
        if isinstance(point, dict):
            self.recent_locations.append((float(point["lat"]), float(point["lon"]), int(cluster)))

    def _clusterer(self) -> Any:
        return list(self.pipeline.steps.values())[-1]

    def _transform(self, x: Features) -> Features:
        for step in list(self.pipeline.steps.values())[:-1]:
            x = step.transform_one(x)
        return x

    def predict(self, event: Event) -> dict[str, Any]:
        """The answer a predict function returns, by task (no learning, no metric update)."""
        domain = self.spec
        x = domain.features(event)
        if domain.task == "binary":
            probability = self._answer(float(self.pipeline.predict_proba_one(x).get(1, 0.0)))
            return {"fraud_probability": probability, "is_fraud": probability >= 0.5}
        if domain.task == "regression":
            seconds = self._answer(float(self.pipeline.predict_one(x)))
            return {"eta_seconds": seconds, "eta_minutes": seconds / 60.0}
        clusterer = self._clusterer()
        cluster = int(self.pipeline.predict_one(x)) if clusterer.n_clusters else 0
        return {"cluster": cluster, "n_clusters": int(clusterer.n_clusters)}

    def metric_values(self) -> dict[str, float]:
        """Current metrics as plain, finite floats, plus model-structure counters."""
        values: dict[str, float] = {}
        for name, metric in self.metrics.items():
            value = metric.get()
            if isinstance(value, int | float) and math.isfinite(value):
                values[name] = float(value) + 0.0  # -0.0 (e.g. ROC AUC before any fraud) -> 0.0
        if self.spec.task == "binary":
            values.update(self._confusion())
        if self.spec.task == "clustering":
            clusterer = self._clusterer()
            values["n_clusters"] = float(clusterer.n_clusters)
            values["n_micro_clusters"] = float(len(clusterer.micro_clusters))
        return values

    def _confusion(self) -> dict[str, float]:
        for metric in self.metrics.values():
            cm = getattr(metric, "cm", None)
            if cm is not None:
                return {
                    "tp": float(cm[1][1]),
                    "fp": float(cm[0][1]),
                    "fn": float(cm[1][0]),
                    "tn": float(cm[0][0]),
                }
        return {}
