"""The fraud model's prequential metrics and confusion counts, with their explanations.

Each ``MetricSpec`` carries the text of the dashboard's ⓘ dialog, so it is written once, here.
"""

from __future__ import annotations

from coelho.domains.base import MetricSpec
from coelho.domains.common import docs

# Metric card groups, as the seed's dashboard grouped them.
PRIMARY, RANKING, SECONDARY, CALIBRATION, COUNTS = (
    "Primary", "Ranking", "Secondary", "Calibration", "Confusion counts")  # fmt: skip


def metrics() -> tuple[MetricSpec, ...]:
    from river import metrics

    from coelho.windows import TimeWindow

    return (
        MetricSpec("Recall", metrics.Recall,
                   "Share of the frauds that were flagged: a missed fraud is money lost.",
                   group=PRIMARY, formula="TP / (TP + FN)", docs=docs("metrics/Recall")),
        MetricSpec("Precision", metrics.Precision,
                   "Share of the flagged transactions that were fraud: the rest are customers "
                   "blocked for nothing.",
                   group=PRIMARY, formula="TP / (TP + FP)", docs=docs("metrics/Precision")),
        MetricSpec("F1", metrics.F1, "Harmonic mean of precision and recall: high only when "
                   "both are.", group=PRIMARY, formula="2 · P · R / (P + R)",
                   docs=docs("metrics/F1")),
        MetricSpec("FBeta", lambda: metrics.FBeta(beta=2.0),
                   "F2: recall weighted 4x precision, since a missed fraud costs more than a "
                   "checked customer. The headline of the seed's model choice.",
                   title="F-Beta (β = 2)", group=PRIMARY,
                   formula="(1 + β²) · P · R / (β² · P + R), β = 2", docs=docs("metrics/FBeta")),
        # River's default 10 thresholds: the seed's 50 cost 7x more per event (23 vs 3 µs),
        # and RollingROCAUC below is exact over its window anyway.
        MetricSpec("ROCAUC", metrics.ROCAUC,
                   "Probability that a random fraud scores above a random legit transaction; "
                   "independent of the 0.5 threshold. 0.5 is a coin toss.",
                   title="ROC AUC", group=RANKING,
                   formula="area under TPR(FPR), 10 thresholds", docs=docs("metrics/ROCAUC")),
        MetricSpec("RollingROCAUC", lambda: metrics.RollingROCAUC(window_size=5000),
                   "ROC AUC over the last 5,000 transactions, exact: reacts to drift where the "
                   "cumulative one hardly moves. The model guard watches it.",
                   title="Rolling ROC AUC", group=RANKING,
                   formula="ROC AUC of the last 5,000 events", docs=docs("metrics/RollingROCAUC")),
        MetricSpec("Accuracy", metrics.Accuracy,
                   "Share of correct verdicts. Misleading at 1 % fraud: flagging nothing scores "
                   "0.99.", group=SECONDARY, formula="(TP + TN) / N",
                   docs=docs("metrics/Accuracy")),
        MetricSpec("BalancedAccuracy", metrics.BalancedAccuracy,
                   "Mean of the recalls of frauds and of legit transactions: 0.5 for a model "
                   "that always says the same, whatever the imbalance.",
                   title="Balanced accuracy", group=SECONDARY,
                   formula="(TP / (TP + FN) + TN / (TN + FP)) / 2",
                   docs=docs("metrics/BalancedAccuracy"), gauge=True),
        MetricSpec("MCC", metrics.MCC,
                   "Matthews correlation between verdicts and truth: uses all four cells, so "
                   "it stays honest at 1 % fraud. 0 is chance, 1 perfect, -1 always wrong.",
                   title="Matthews correlation (MCC)", group=SECONDARY,
                   formula="(TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN))",
                   low=-1.0, docs=docs("metrics/MCC"), gauge=True),
        MetricSpec("GeometricMean", metrics.GeometricMean,
                   "Geometric mean of the recalls of both classes: 0 as soon as one class is "
                   "never recognised.", title="Geometric mean", group=SECONDARY,
                   formula="√(recall(fraud) · recall(legit))",
                   docs=docs("metrics/GeometricMean")),
        MetricSpec("CohenKappa", metrics.CohenKappa,
                   "Agreement of verdicts and truth beyond what chance agreement at these "
                   "class rates would give.", title="Cohen's κ", group=SECONDARY,
                   formula="(p_o − p_e) / (1 − p_e)", low=-1.0, docs=docs("metrics/CohenKappa")),
        MetricSpec("Jaccard", metrics.Jaccard,
                   "Overlap of the flagged and the actual frauds.", group=SECONDARY,
                   formula="TP / (TP + FP + FN)", docs=docs("metrics/Jaccard")),
        MetricSpec("LogLoss", metrics.LogLoss,
                   "Cross-entropy of the fraud probability: punishes confident wrong answers "
                   "hardest, so it judges the probability, not just the verdict.",
                   higher_is_better=False, title="Log loss", group=CALIBRATION,
                   formula="−mean(y · ln p + (1 − y) · ln(1 − p))", high=None,
                   docs=docs("metrics/LogLoss")),
        MetricSpec("TimeRollingMAE", lambda: TimeWindow(metrics.MAE),
                   "Mean |is_fraud − fraud probability| over the last 5 minutes of event time "
                   "(at most 3,000 events): how far the probabilities are from the outcomes "
                   "right now; near the fraud rate when the model says ~0 everywhere.",
                   higher_is_better=False, title="Time-rolling MAE (5 min)", group=CALIBRATION,
                   formula="mean |y − p| over events with t > t_latest − 5 min",
                   docs=docs("utils/TimeRolling")),
    )  # fmt: skip


def _counter(name: str, text: str, formula: str) -> MetricSpec:
    return MetricSpec(name, None, text, higher_is_better=None, title=name.upper(),
                      group=COUNTS, formula=formula, high=None, best=None,
                      docs=docs("metrics/ConfusionMatrix"))  # fmt: skip


# The confusion counts the model reports beside its metrics (OnlineModel.metric_values).
COUNTERS = (
    _counter("tp", "Frauds flagged as fraud.", "count(y = 1, ŷ = 1)"),
    _counter("fp", "Legit transactions flagged as fraud: customers checked for nothing.",
             "count(y = 0, ŷ = 1)"),
    _counter("fn", "Frauds missed.", "count(y = 1, ŷ = 0)"),
    _counter("tn", "Legit transactions passed.", "count(y = 0, ŷ = 0)"),
)  # fmt: skip
