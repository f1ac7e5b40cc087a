"""River vs batch on the identical holdout, plus the trivial baseline both must beat.

The online model is the domain's River pipeline as deployed (``COELHO_MODEL_<D>`` or its
default), replayed in time order over exactly the training rows the batch model saw, the
River way: each row is predicted, scored and only then learned (its prequential metrics are
kept as ``river_prequential``). Then it answers the holdout rows without learning, and those
answers are scored with the same metric functions as the batch model's. So the table compares
two models of the same past on the same future.

The baseline is what knows nothing: the training rows' positive rate as every probability
(binary), their mean as every prediction (regression). Clustering has none (one cluster has no
silhouette). For clustering both models' labels are scored in the batch model's feature space,
the only space the two share.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coelho.batch import metrics
from coelho.batch.answers import value
from coelho.batch.data import Dataset
from coelho.domains import Domain
from coelho.settings import model_choice

Tick = Callable[[float, str], None]
TICKS = 20


def scorer(domain: Domain, names: tuple[str, ...]) -> Callable[..., dict[str, float]]:
    """``score(y, answers, x_t=None, inertia=None)`` -> the named metrics of the task."""

    def score(
        y: Any, answers: Any, x_t: Any = None, inertia: float | None = None
    ) -> dict[str, float]:
        if domain.task == "binary":
            return metrics.evaluate(names, metrics.binary(y, answers))
        if domain.task == "regression":
            return metrics.evaluate(names, metrics.regression(y, answers))
        return metrics.evaluate(names, metrics.clustering(x_t, answers, inertia))

    return score


def river_answers(
    domain: Domain, dataset: Dataset, tick: Tick
) -> tuple[Any, dict[str, float], str]:
    """(holdout answers, prequential metrics on the training replay, pipeline name)."""
    import numpy as np

    from coelho.learning import OnlineModel

    model = OnlineModel.create(domain.key, model_choice(domain.key))
    step = max(1, dataset.cut // TICKS)
    for start in range(0, dataset.cut, step):
        for event in dataset.events(start, min(dataset.cut, start + step)):
            model.learn(event)
        done = min(dataset.cut, start + step)
        tick(done / dataset.cut * 0.9, f"River replay: {done:,}/{dataset.cut:,} rows")
    answers = [model.predict(event) for event in dataset.events(dataset.cut, dataset.rows)]
    tick(1.0, "River on the holdout")
    found = np.asarray([value(domain.task, a) for a in answers], dtype=float)
    return found, model.metric_values(), model.model_name


def baseline(domain: Domain, y_train: Any, holdout_rows: int) -> Any:
    """The know-nothing answers for the holdout, or None (clustering)."""
    import numpy as np

    if domain.task in ("binary", "regression"):
        return np.full(holdout_rows, float(np.mean(y_train)))
    return None
