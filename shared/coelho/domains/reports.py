"""Readable reports a snapshot run carries as JSON artifacts, per kind of task.

A domain module picks the ones that fit it (``Domain.reports``): a function of the domain's
``OnlineModel`` returning ``{name: JSON-able}``; each becomes ``reports/<name>.json`` in the
snapshot run (``coelho.snapshot_content``). Plain dicts of numbers, so a reader needs no
River, no pickle and no platform code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Reports = dict[str, Any]


def no_reports(model: Any) -> Reports:
    """For a domain with nothing beyond its metrics to show."""
    return {}


def confusion_reports(class_names: Mapping[int, str]) -> Callable[[Any], Reports]:
    """Confusion matrix and classification report of a classifier's prequential verdicts.

    >>> class Metric:  # River's confusion matrix: cm[actual][predicted]
    ...     cm = {0: {0: 90.0, 1: 5.0}, 1: {0: 1.0, 1: 4.0}}
    >>> class Model:
    ...     metrics = {"F1": Metric()}
    >>> made = confusion_reports({0: "legit", 1: "fraud"})(Model())
    >>> made["confusion_matrix"]["matrix"], made["confusion_matrix"]["counts"]["tp"]
    ([[90, 5], [1, 4]], 4)
    >>> made["classification_report"]["fraud"]
    {'precision': 0.444444, 'recall': 0.8, 'f1': 0.571429, 'support': 5}
    """

    def reports(model: Any) -> Reports:
        cm = next((m.cm for m in model.metrics.values() if getattr(m, "cm", None) is not None),
                  None)  # fmt: skip
        labels = sorted(class_names)
        matrix = [[int(cm[a][p]) if cm is not None else 0 for p in labels] for a in labels]
        names = [class_names[label] for label in labels]
        report: dict[str, Any] = {}
        for i, name in enumerate(names):
            support = sum(matrix[i])
            flagged = sum(row[i] for row in matrix)
            hit = matrix[i][i]
            precision, recall = _ratio(hit, flagged), _ratio(hit, support)
            f1 = _ratio(2 * precision * recall, precision + recall)
            report[name] = {"precision": round(precision, 6), "recall": round(recall, 6),
                            "f1": round(f1, 6), "support": support}  # fmt: skip
        total = sum(map(sum, matrix))
        report["accuracy"] = round(_ratio(sum(matrix[i][i] for i in range(len(names))), total), 6)
        for avg, weights in (("macro avg", [1] * len(names)),
                             ("weighted avg", [report[n]["support"] for n in names])):  # fmt: skip
            report[avg] = {k: round(_mean([report[n][k] for n in names], weights), 6)
                           for k in ("precision", "recall", "f1")}  # fmt: skip
            report[avg]["support"] = total
        counts = {}
        if len(labels) == 2:
            counts = {"tn": matrix[0][0], "fp": matrix[0][1], "fn": matrix[1][0],
                      "tp": matrix[1][1]}  # fmt: skip
        confusion = {"labels": names, "rows": "actual", "columns": "predicted",
                     "matrix": matrix, "counts": counts}  # fmt: skip
        return {"confusion_matrix": confusion, "classification_report": report}

    return reports


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _mean(values: list[float], weights: list[int]) -> float:
    return _ratio(sum(v * w for v, w in zip(values, weights, strict=True)), sum(weights))


def cluster_reports(top: int = 10) -> Callable[[Any], Reports]:
    """Events per cluster and, per cluster, the ``top`` most frequent values of each profiled
    feature (the model's cluster analytics: ``OnlineModel.cluster_profiles``)."""

    def reports(model: Any) -> Reports:
        counts = model.cluster_counts
        total = sum(counts.values())
        values = model.metric_values()
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        summary = {
            "events_assigned": int(total),
            "n_clusters": int(values.get("n_clusters", 0)),
            "n_micro_clusters": int(values.get("n_micro_clusters", 0)),
            "clusters": [{"cluster": int(c), "events": int(n), "share": round(_ratio(n, total), 6)}
                         for c, n in ordered],
        }  # fmt: skip
        profiles = {
            str(c): {feature: {str(v): int(k) for v, k in seen.most_common(top)}
                     for feature, seen in sorted(model.cluster_profiles.get(c, {}).items())}
            for c, _ in ordered
        }  # fmt: skip
        return {"cluster_counts": summary, "cluster_profiles": profiles}

    return reports
