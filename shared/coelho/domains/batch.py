"""What a domain's offline (scikit-learn) model is: the contract ``coelho.batch`` trains by.

A domain module fills one ``BatchSpec``: its estimator (built lazily, so importing a domain
never imports scikit-learn), the metric that ranks its runs, the metric groups its page shows
(their union is the metric set logged), the diagnostics it explains itself with, and which of
its fields stay out of the features beyond ids, targets and generator internals. Everything
else (features from the ``FieldSpec``s, the time split, metrics, plots, MLflow) is the batch
package's, by task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

Encoding = Literal["ordinal", "onehot"]


@dataclass(frozen=True)
class BatchSpec:
    """One domain's batch model; ``build`` returns a fresh, unfitted estimator."""

    build: Callable[[], Any]
    headline: str
    higher_is_better: bool
    # (card title, metric names) in page order; every name must be a metric of the task.
    metric_groups: tuple[tuple[str, tuple[str, ...]], ...]
    diagnostics: tuple[str, ...]
    # Categories as ordinal codes (trees split on them natively) or one-hot columns
    # (distance-based models); either way the codes come from the FieldSpec's choices.
    encoding: Encoding = "ordinal"
    # Standardize the numeric inputs (distance-based models need it; trees do not).
    scale: bool = False
    # Dotted field paths kept out of the features (beyond ids, targets and debug fields).
    exclude: tuple[str, ...] = ()
    # Fewer archived rows than this and a training is refused with the reason.
    min_rows: int = 200
    # Clustering: the K searched (inclusive), best by silhouette.
    k_range: tuple[int, int] = (2, 10)
    summary: str = ""

    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric the run logs, in card order."""
        return tuple(name for _, names in self.metric_groups for name in names)

    @property
    def estimator_name(self) -> str:
        return type(self.build()).__name__
