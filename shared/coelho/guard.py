"""Is the live model fit to serve? A guard fed by the model's own prequential predictions.

The writer scores every event before learning it (``OnlineModel.learn``); ``Health`` looks at
each of those predictions against the domain's ``GuardSpec`` (declared in the domain module):

- a non-finite prediction, or one beyond the physical range by more than the range's own
  width (an ETA of 10^12 s, or of minus a day), marks the model **diverged** at once;
- predictions slightly outside the range (a linear model's -40 s for a 100 m trip) only do
  when more than ``tolerance`` of the last ``WINDOW`` predictions are;
- the domain's rolling headline metric worse than the champion's by more than the declared
  bound (ETA: three times the champion's RollingMAE) marks it **degraded**. The champion's
  metrics reach the writer through Redis, written by the snapshot function.

Both states clear by themselves once the last ``WINDOW`` predictions are sane again and the
metric is back within its bound; the usual way out of a divergence is ``coelho reset``.
``Health`` travels inside the pickled ``OnlineModel``, so predict functions (which then answer
from the champion), the snapshot function (which never promotes an unhealthy state) and the
dashboard all read the same verdict. Pure Python: loading it costs a predict function nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from coelho.domains.base import GuardSpec

OK, DEGRADED, DIVERGED = "ok", "degraded", "diverged"
WINDOW = 200
# Verdicts on one prediction (``classify``); the names are the Prometheus label values.
IN_RANGE, OUT_OF_RANGE, FAR_OUT, NON_FINITE = 0, 1, 2, 3
VERDICTS = ("in_range", "out_of_range", "far_out", "non_finite")


class Health:
    """The guard's state for one model: the last ``WINDOW`` verdicts and the metric check.

    >>> from coelho.domains.base import GuardSpec
    >>> health = Health(GuardSpec(prediction_range=(0.0, 86_400.0)))
    >>> health.observe(1_200.0), health.state
    (0, 'ok')
    >>> health.observe(1e12), health.state
    (2, 'diverged')
    >>> for _ in range(WINDOW):
    ...     _ = health.observe(900.0)
    >>> health.state, health.totals["far_out"]
    ('ok', 1)
    """

    metric_after = 1_000  # guards pickled before the field existed

    def __init__(self, spec: GuardSpec) -> None:
        self.range = spec.prediction_range
        self.tolerance = spec.tolerance
        self.metric = spec.metric
        self.max_ratio = spec.max_ratio
        self.max_drop = spec.max_drop
        self.metric_after = spec.metric_after
        self.recent = bytearray(WINDOW)
        self.counts = [WINDOW, 0, 0, 0]  # how many of ``recent`` carry each verdict
        self.next = 0
        self.totals = dict.fromkeys(VERDICTS[1:], 0)
        self.degraded: str | None = None

    def classify(self, value: float) -> int:
        if not math.isfinite(value):
            return NON_FINITE
        if self.range is None:
            return IN_RANGE
        low, high = self.range
        if low <= value <= high:
            return IN_RANGE
        width = high - low
        return FAR_OUT if value < low - width or value > high + width else OUT_OF_RANGE

    def observe(self, value: float) -> int:
        """Record one prequential prediction; returns its verdict. O(1): runs on every event."""
        verdict = self.classify(value)
        self.counts[self.recent[self.next]] -= 1
        self.recent[self.next] = verdict
        self.counts[verdict] += 1
        self.next = (self.next + 1) % WINDOW
        if verdict:
            self.totals[VERDICTS[verdict]] += 1
        return verdict

    def check_metric(
        self, metrics: Mapping[str, float], champion: Mapping[str, float] | None, learned: int
    ) -> None:
        """Compare the rolling metric with the champion's (None: no champion, no verdict)."""
        self.degraded = None
        if self.metric is None or not champion or learned < self.metric_after:
            return
        mine, theirs = metrics.get(self.metric), champion.get(self.metric)
        if mine is None or theirs is None:
            return
        if self.max_ratio is not None and mine > self.max_ratio * theirs:
            self.degraded = (
                f"{self.metric} {mine:.4g} is over {self.max_ratio:g}x the champion's {theirs:.4g}"
            )
        elif self.max_drop is not None and mine < theirs - self.max_drop:
            self.degraded = (
                f"{self.metric} {mine:.4g} is more than {self.max_drop:g} below the "
                f"champion's {theirs:.4g}"
            )

    @property
    def state(self) -> str:
        _, out, far, bad = self.counts
        if far or bad or out > self.tolerance * WINDOW:
            return DIVERGED
        return DEGRADED if self.degraded else OK

    @property
    def reason(self) -> str | None:
        """Why the state is not ``ok``, in words (None when it is)."""
        _, out, far, bad = self.counts
        if bad:
            return f"{bad} of the last {WINDOW} predictions were not finite"
        if far:
            return f"{far} of the last {WINDOW} predictions were far outside {self._range()}"
        if out > self.tolerance * WINDOW:
            return f"{out} of the last {WINDOW} predictions were outside {self._range()}"
        return self.degraded

    def _range(self) -> str:
        low, high = self.range or (-math.inf, math.inf)
        return f"the physical range {low:g}..{high:g}"

    def describe(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "window": WINDOW,
                "recent": dict(zip(VERDICTS[1:], self.counts[1:], strict=True)),
                "totals": dict(self.totals)}  # fmt: skip


def state_of(model: Any) -> tuple[str, str | None]:
    """(state, reason) of any model object; one without a guard (older checkpoints) is ok."""
    health = getattr(model, "health", None)
    if health is None:
        return OK, None
    return health.state, health.reason


PROBES = 20


def verdict(model: Any) -> tuple[str, str | None]:
    """``state_of`` plus a smoke test, for decisions that outlive the moment (registering,
    promoting): the model must answer ``PROBES`` requests of the domain's own generator
    sanely. It catches what the window cannot see: a model that diverged and then learned
    nothing, or a checkpoint pickled before the guard existed."""
    state, reason = state_of(model)
    if state != OK or not hasattr(model, "predict"):
        return state, reason
    from coelho.domains import get
    from coelho.errors import ModelDiverged

    domain = get(model.domain)
    if domain.guard.prediction_range is None:
        return OK, None  # nothing to check an answer against (and DBSTREAM's predict mutates)
    generator = domain.generate(seed=0)
    for _ in range(PROBES):
        try:
            model.predict(domain.validate_request(generator.next_event()))
        except ModelDiverged as exc:
            return DIVERGED, f"a probe request: {exc}"
    return OK, None
