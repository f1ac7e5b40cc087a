"""The plot data of every diagnostic, by name, computed on the holdout (never training rows).

A domain lists its diagnostics in ``BatchSpec.diagnostics``; each function here returns plain
JSON (stored in the run as ``diagnostics.json``) that the dashboard draws with Plotly, so a
figure is interactive and costs no recomputation. Curves are thinned to at most ``POINTS``
points and scatter plots sampled to ``SAMPLE`` rows (seeded), which keeps the artifact small
at any table size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coelho.batch.metrics import THRESHOLD
from coelho.domains import Domain

POINTS = 200
SAMPLE = 2000
PERMUTATION_ROWS = 3000
PERMUTATION_REPEATS = 3


@dataclass
class Holdout:
    """What the diagnostics need: the holdout inputs and answers, and the fitted model."""

    domain: Domain
    x: Any  # raw input frame
    y: Any  # labels / targets (None for clustering)
    score: Any  # probability of the positive class, predicted value, or cluster label
    pipeline: Any
    x_t: Any  # transformed holdout (clustering)
    k_log: list[dict[str, float]]


def _r(values: Any) -> list[float]:
    return [float(f"{float(v):.6g}") for v in values]


def _thin(*columns: Any) -> list[list[float]]:
    import numpy as np

    n = len(columns[0])
    keep = np.unique(np.linspace(0, n - 1, min(n, POINTS)).astype(int)) if n else []
    return [_r(np.asarray(c)[keep]) for c in columns]


def _sample(n: int) -> Any:
    import numpy as np

    if n <= SAMPLE:
        return np.arange(n)
    return np.sort(np.random.default_rng(42).choice(n, SAMPLE, replace=False))


def confusion_matrix(h: Holdout) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix as cm

    pred = (h.score >= THRESHOLD).astype(int)
    return {"matrix": cm(h.y, pred, labels=[0, 1]).tolist(), "labels": ["0", "1"],
            "threshold": THRESHOLD, "target": h.domain.target}  # fmt: skip


def roc(h: Holdout) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(h.y, h.score)
    fpr, tpr = _thin(fpr, tpr)
    return {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(h.y, h.score))}


def precision_recall(h: Holdout) -> dict[str, Any]:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(h.y, h.score)
    precision, recall = _thin(precision, recall)
    return {"precision": precision, "recall": recall,
            "ap": float(average_precision_score(h.y, h.score)),
            "prevalence": float(h.y.mean())}  # fmt: skip


def calibration(h: Holdout) -> dict[str, Any]:
    import numpy as np
    from sklearn.calibration import calibration_curve

    true, predicted = calibration_curve(h.y, h.score, n_bins=10, strategy="quantile")
    counts, _ = np.histogram(h.score, bins=10, range=(0, 1))
    return {"mean_predicted": _r(predicted), "fraction_positive": _r(true),
            "histogram": counts.tolist()}  # fmt: skip


def threshold_sweep(h: Holdout) -> dict[str, Any]:
    import numpy as np
    from sklearn.metrics import fbeta_score, precision_score, recall_score

    rows: dict[str, list[float]] = {k: [] for k in ("threshold", "precision", "recall", "f1",
                                                     "f2", "flagged")}  # fmt: skip
    for t in np.round(np.arange(0.05, 1.0, 0.05), 2):
        pred = (h.score >= t).astype(int)
        rows["threshold"].append(float(t))
        rows["precision"].append(float(precision_score(h.y, pred, zero_division=0)))
        rows["recall"].append(float(recall_score(h.y, pred, zero_division=0)))
        rows["f1"].append(float(fbeta_score(h.y, pred, beta=1, zero_division=0)))
        rows["f2"].append(float(fbeta_score(h.y, pred, beta=2, zero_division=0)))
        rows["flagged"].append(float(pred.mean()))
    return rows


def permutation_importance(h: Holdout) -> dict[str, Any]:
    """Score lost when one input field is shuffled (the whole pipeline, raw fields)."""
    from sklearn.inspection import permutation_importance as permute

    rows = _sample(len(h.x))[:PERMUTATION_ROWS]
    scoring = "average_precision" if h.domain.task == "binary" else "neg_mean_absolute_error"
    found = permute(h.pipeline, h.x.iloc[rows], h.y[rows], scoring=scoring,
                    n_repeats=PERMUTATION_REPEATS, random_state=42, n_jobs=1)  # fmt: skip
    order = found.importances_mean.argsort()[::-1]
    return {"feature": [str(h.x.columns[i]) for i in order],
            "mean": _r(found.importances_mean[order]), "std": _r(found.importances_std[order]),
            "scoring": scoring, "rows": len(rows)}  # fmt: skip


def predicted_vs_actual(h: Holdout) -> dict[str, Any]:
    rows = _sample(len(h.y))
    return {"actual": _r(h.y[rows]), "predicted": _r(h.score[rows]), "target": h.domain.target}


def residuals(h: Holdout) -> dict[str, Any]:
    import numpy as np

    rows = _sample(len(h.y))
    residual = h.y - h.score
    counts, edges = np.histogram(residual, bins=40)
    return {"predicted": _r(h.score[rows]), "residual": _r(residual[rows]),
            "histogram": counts.tolist(), "edges": _r(edges)}  # fmt: skip


def k_search(h: Holdout) -> dict[str, Any]:
    return {"entries": h.k_log, "chosen": int(h.pipeline.named_steps["model"].n_clusters)}


def cluster_sizes(h: Holdout) -> dict[str, Any]:
    import numpy as np

    clusters, counts = np.unique(h.score, return_counts=True)
    return {"cluster": [int(c) for c in clusters], "count": [int(c) for c in counts]}


def pca_2d(h: Holdout) -> dict[str, Any]:
    from sklearn.decomposition import PCA

    rows = _sample(len(h.x_t))
    pca = PCA(n_components=2, random_state=42).fit(h.x_t)
    points = pca.transform(h.x_t[rows])
    return {"x": _r(points[:, 0]), "y": _r(points[:, 1]),
            "cluster": [int(c) for c in h.score[rows]],
            "explained": _r(pca.explained_variance_ratio_)}  # fmt: skip


def cluster_profiles(h: Holdout) -> dict[str, Any]:
    """Per cluster: the mean of each numeric input and the share of each category value."""
    from coelho.batch.features import by_kind

    kinds = by_kind(h.domain)
    frame = h.x.assign(_cluster=h.score)
    numeric = {c.name: {str(k): float(f"{v:.6g}") for k, v in
                        frame.groupby("_cluster")[c.name].mean().dropna().items()}
               for c in kinds["numeric"]}  # fmt: skip
    categorical: dict[str, dict[str, dict[str, float]]] = {}
    for column in kinds["categorical"]:
        shares = frame.groupby("_cluster")[column.name].value_counts(normalize=True)
        per: dict[str, dict[str, float]] = {}
        for (cluster, value), share in shares.items():
            per.setdefault(str(cluster), {})[str(value)] = round(float(share), 4)
        categorical[column.name] = per
    return {"numeric": numeric, "categorical": categorical}


DIAGNOSTICS: dict[str, Callable[[Holdout], dict[str, Any]]] = {
    "confusion_matrix": confusion_matrix,
    "roc": roc,
    "precision_recall": precision_recall,
    "calibration": calibration,
    "threshold_sweep": threshold_sweep,
    "permutation_importance": permutation_importance,
    "predicted_vs_actual": predicted_vs_actual,
    "residuals": residuals,
    "k_search": k_search,
    "cluster_sizes": cluster_sizes,
    "pca_2d": pca_2d,
    "cluster_profiles": cluster_profiles,
}


def compute(names: tuple[str, ...], holdout: Holdout) -> dict[str, Any]:
    """The named diagnostics; one that fails on this holdout is reported, not fatal."""
    out: dict[str, Any] = {}
    for name in names:
        try:
            out[name] = DIAGNOSTICS[name](holdout)
        except ValueError as exc:  # e.g. one class only in a tiny holdout
            out[name] = {"error": str(exc)}
    return out
