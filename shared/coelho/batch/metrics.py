"""The holdout metrics of every task, by name (the seed's sets), and what each one means.

``evaluate(task, names, ...)`` computes the named metrics of one model on the holdout; a
domain picks its names in ``BatchSpec.metric_groups``. A metric that is undefined on this
holdout (ROC AUC with one class, silhouette with one cluster) is left out rather than
reported as 0. ``INFO`` is import-light (no scikit-learn), so the dashboard can label cards.

Classification metrics use the decision threshold 0.5 on the predicted probability; ranking
and calibration metrics use the probability itself. MAPE and SMAPE are percentages over the
rows whose actual value is not 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

THRESHOLD = 0.5


@dataclass(frozen=True)
class MetricInfo:
    label: str
    help: str
    higher_is_better: bool = True
    ranked: bool = True  # False: a description (K), not a quality; never "better"


def better(name: str, batch: float | None, river: float | None) -> str:
    """Which model the metric favours ("batch", "river" or "" for a tie or no verdict).

    >>> better("mae", 10.0, 12.0), better("n_clusters", 3.0, 4.0)
    ('batch', '')
    """
    info = INFO[name]
    if batch is None or river is None or batch == river or not info.ranked:
        return ""
    return "batch" if (batch > river) == info.higher_is_better else "river"


INFO: dict[str, MetricInfo] = {
    # binary
    "recall": MetricInfo("Recall", "Share of the positives (frauds) the model flags."),
    "precision": MetricInfo("Precision", "Share of the flagged rows that are positives."),
    "f1": MetricInfo("F1", "Harmonic mean of precision and recall."),
    "f2": MetricInfo("F2", "F-beta with beta 2: recall weighs four times precision."),
    "accuracy": MetricInfo("Accuracy", "Share of correct verdicts; misleading at 1 % fraud."),
    "balanced_accuracy": MetricInfo("Balanced accuracy", "Mean recall of both classes."),
    "mcc": MetricInfo("MCC", "Matthews correlation, -1 to 1; robust to class imbalance."),
    "cohen_kappa": MetricInfo("Cohen's kappa", "Agreement with the labels beyond chance."),
    "jaccard": MetricInfo("Jaccard", "Overlap of flagged and actual positives."),
    "geometric_mean": MetricInfo("G-mean", "Geometric mean of the two class recalls."),
    "roc_auc": MetricInfo(
        "ROC AUC", "Probability a random positive scores above a random negative; threshold-free."
    ),  # fmt: skip
    "average_precision": MetricInfo(
        "Average precision",
        "Area under the precision-recall curve; 1 % fraud makes its floor 0.01.",
    ),  # fmt: skip
    "log_loss": MetricInfo("Log loss", "Penalty on confident wrong probabilities.", False),
    "brier": MetricInfo("Brier", "Mean squared error of the probabilities.", False),
    "d2_log_loss": MetricInfo(
        "D² log loss",
        "Share of the log loss of always predicting the base rate that the model removes.",
    ),  # fmt: skip
    "d2_brier": MetricInfo("D² Brier", "Share of the base rate's Brier score removed."),
    # regression
    "mae": MetricInfo("MAE", "Mean absolute error, in the target's unit.", False),
    "mse": MetricInfo("MSE", "Mean squared error (unit squared).", False),
    "rmse": MetricInfo("RMSE", "Root mean squared error: punishes large misses.", False),
    "median_ae": MetricInfo("Median AE", "Median absolute error: the typical miss.", False),
    "max_error": MetricInfo("Max error", "The worst miss on the holdout.", False),
    "r2": MetricInfo("R²", "Share of the target's variance the model explains."),
    "explained_variance": MetricInfo("Explained variance", "Like R², ignoring a constant bias."),
    "mape": MetricInfo("MAPE %", "Mean absolute error as a percentage of the actual.", False),
    "smape": MetricInfo("SMAPE %", "Symmetric percentage error, 0 to 200.", False),
    "d2_absolute": MetricInfo(
        "D² absolute", "Share of the median predictor's absolute error removed."
    ),  # fmt: skip
    "d2_pinball": MetricInfo("D² pinball", "D² of the pinball loss at the median (alpha 0.5)."),
    "d2_tweedie": MetricInfo("D² Tweedie", "D² of the Tweedie deviance, power 0 (= R²)."),
    # clustering
    "silhouette": MetricInfo(
        "Silhouette", "Cohesion vs separation, -1 to 1 (computed on up to 3,000 rows)."
    ),  # fmt: skip
    "calinski_harabasz": MetricInfo(
        "Calinski-Harabasz", "Between- over within-cluster dispersion."
    ),  # fmt: skip
    "davies_bouldin": MetricInfo(
        "Davies-Bouldin",
        "Mean similarity of each cluster to its closest one; lower is better.",
        False,
    ),  # fmt: skip
    "inertia": MetricInfo("Inertia", "Sum of squared distances to the nearest centre.", False),
    "n_clusters": MetricInfo("Clusters", "K chosen by the search.", ranked=False),
}

BINARY = ("recall", "precision", "f1", "f2", "accuracy", "balanced_accuracy", "mcc",
          "cohen_kappa", "jaccard", "geometric_mean", "roc_auc", "average_precision",
          "log_loss", "brier", "d2_log_loss", "d2_brier")  # fmt: skip
REGRESSION = ("mae", "mse", "rmse", "median_ae", "max_error", "r2", "explained_variance",
              "mape", "smape", "d2_absolute", "d2_pinball", "d2_tweedie")  # fmt: skip
CLUSTERING = ("silhouette", "calinski_harabasz", "davies_bouldin", "inertia", "n_clusters")
TASK_METRICS = {"binary": BINARY, "regression": REGRESSION, "clustering": CLUSTERING}
SILHOUETTE_SAMPLE = 3000


def check(task: str, names: Iterable[str]) -> None:
    """Raise ``ValueError`` naming any metric the task does not have (domain modules' tests)."""
    unknown = sorted(set(names) - set(TASK_METRICS[task]))
    if unknown:
        raise ValueError(f"{task}: unknown metrics {unknown}; known: {TASK_METRICS[task]}")


def binary(y: Any, proba: Any) -> dict[str, Callable[[], float]]:
    import numpy as np
    from sklearn import metrics as m

    y, proba = np.asarray(y, dtype=int), np.clip(np.asarray(proba, dtype=float), 1e-15, 1 - 1e-15)
    pred = (proba >= THRESHOLD).astype(int)
    both = np.column_stack([1 - proba, proba])

    def gmean() -> float:
        tn, fp, fn, tp = m.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        tpr = tp / (tp + fn) if tp + fn else 0.0
        tnr = tn / (tn + fp) if tn + fp else 0.0
        return math.sqrt(tpr * tnr)

    z = {"zero_division": 0}
    return {
        "recall": lambda: m.recall_score(y, pred, **z),
        "precision": lambda: m.precision_score(y, pred, **z),
        "f1": lambda: m.f1_score(y, pred, **z),
        "f2": lambda: m.fbeta_score(y, pred, beta=2.0, **z),
        "accuracy": lambda: m.accuracy_score(y, pred),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y, pred),
        "mcc": lambda: m.matthews_corrcoef(y, pred),
        "cohen_kappa": lambda: m.cohen_kappa_score(y, pred),
        "jaccard": lambda: m.jaccard_score(y, pred, **z),
        "geometric_mean": gmean,
        "roc_auc": lambda: m.roc_auc_score(y, proba),
        "average_precision": lambda: m.average_precision_score(y, proba),
        "log_loss": lambda: m.log_loss(y, both, labels=[0, 1]),
        "brier": lambda: m.brier_score_loss(y, proba),
        "d2_log_loss": lambda: m.d2_log_loss_score(y, both, labels=[0, 1]),
        "d2_brier": lambda: m.d2_brier_score(y, proba),
    }


def regression(y: Any, pred: Any) -> dict[str, Callable[[], float]]:
    import numpy as np
    from sklearn import metrics as m

    y, pred = np.asarray(y, dtype=float), np.asarray(pred, dtype=float)
    nonzero = y != 0

    def mape() -> float:
        return float(np.mean(np.abs((y - pred)[nonzero] / y[nonzero])) * 100)

    def smape() -> float:
        denominator = (np.abs(y) + np.abs(pred)) / 2
        keep = denominator != 0
        return float(np.mean(np.abs(y - pred)[keep] / denominator[keep]) * 100)

    return {
        "mae": lambda: m.mean_absolute_error(y, pred),
        "mse": lambda: m.mean_squared_error(y, pred),
        "rmse": lambda: m.root_mean_squared_error(y, pred),
        "median_ae": lambda: m.median_absolute_error(y, pred),
        "max_error": lambda: m.max_error(y, pred),
        "r2": lambda: m.r2_score(y, pred),
        "explained_variance": lambda: m.explained_variance_score(y, pred),
        "mape": mape,
        "smape": smape,
        "d2_absolute": lambda: m.d2_absolute_error_score(y, pred),
        "d2_pinball": lambda: m.d2_pinball_score(y, pred, alpha=0.5),
        "d2_tweedie": lambda: m.d2_tweedie_score(y, pred, power=0),
    }


def clustering(x: Any, labels: Any, inertia: float | None) -> dict[str, Callable[[], float]]:
    import numpy as np
    from sklearn import metrics as m

    labels = np.asarray(labels)
    sample = min(len(labels), SILHOUETTE_SAMPLE)
    return {
        "silhouette": lambda: m.silhouette_score(x, labels, sample_size=sample, random_state=42),
        "calinski_harabasz": lambda: m.calinski_harabasz_score(x, labels),
        "davies_bouldin": lambda: m.davies_bouldin_score(x, labels),
        "inertia": lambda: float("nan") if inertia is None else inertia,
        "n_clusters": lambda: float(len(np.unique(labels))),
    }


def evaluate(names: Iterable[str], available: dict[str, Callable[[], float]]) -> dict[str, float]:
    """The named metrics that are defined here, as plain floats."""
    out: dict[str, float] = {}
    for name in names:
        try:
            value = float(available[name]())
        except ValueError:  # undefined here (one class, one cluster): leave it out
            continue
        if math.isfinite(value):
            out[name] = value
    return out
