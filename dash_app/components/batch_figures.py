"""Interactive figures of a batch run's diagnostics, drawn from its stored plot data.

The trainer computed every curve on the holdout and stored it in the run
(``diagnostics.json``, coelho.batch.diagnostics); these are pure functions from that JSON to
Plotly figures, one per diagnostic name, each with a "what it shows / how to read it" note.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go

from dash_app.components.figures import MARGIN, empty

HEIGHT = 320
# name -> (title, what it shows, how to read it)
NOTES: dict[str, tuple[str, str, str]] = {
    "confusion_matrix": (
        "Confusion matrix",
        "Holdout rows by actual class and by the verdict at probability 0.5.",
        "The diagonal is right. Bottom-left are missed positives (frauds let through), "
        "top-right false alarms; with 1 % positives a few cells decide recall.",
    ),
    "roc": (
        "ROC curve",
        "True-positive rate against false-positive rate over every threshold.",
        "The closer to the top-left corner, the better the ranking; the diagonal is a coin. "
        "The area is ROC AUC, blind to the 1 % prevalence.",
    ),
    "precision_recall": (
        "Precision-recall curve",
        "Precision against recall over every threshold.",
        "The dashed line is the prevalence (what guessing gets). Read off the precision you "
        "pay for the recall you need; the area is average precision.",
    ),
    "calibration": (
        "Calibration",
        "Mean predicted probability against the observed positive rate, in 10 quantile bins; "
        "bars: how many rows fall in each probability decile.",
        "On the diagonal, a 0.3 means 30 %. Class weights push scores up, so expect the curve "
        "under the diagonal: rank with it, do not read it as a probability.",
    ),
    "threshold_sweep": (
        "Threshold sweep",
        "Precision, recall, F1, F2 and the share of rows flagged at thresholds 0.05-0.95.",
        "Pick the threshold where F2 (recall first) or precision (review cost first) peaks; "
        "the flagged share is the alert volume you would handle.",
    ),
    "permutation_importance": (
        "Permutation importance",
        "How much the holdout score drops when one input field is shuffled (mean ± std of "
        "3 shuffles, on up to 3,000 rows).",
        "Long bars are fields the model relies on; near zero or negative: it ignores them, "
        "or they only add noise.",
    ),
    "predicted_vs_actual": (
        "Predicted vs actual",
        "Each holdout trip's predicted against actual duration (a sample of up to 2,000).",
        "Points on the diagonal are exact; a fan widening with duration means larger trips "
        "carry larger absolute errors; points far above are incidents no input foretold.",
    ),
    "residuals": (
        "Residuals",
        "Actual minus predicted against the prediction, and their histogram.",
        "A band centred on 0 with no trend is healthy; a slope or a curve is a bias the model "
        "misses; a long right tail are delays (incidents) it cannot see.",
    ),
    "k_search": (
        "K search",
        "Silhouette, Calinski-Harabasz, Davies-Bouldin and inertia of KMeans for K = 2-10 on "
        "the training rows.",
        "The chosen K has the best silhouette (higher, up to 1); Davies-Bouldin should be low; "
        "inertia always falls with K, look for its elbow.",
    ),
    "cluster_sizes": (
        "Cluster sizes",
        "Holdout rows per cluster.",
        "Very uneven sizes can mean one cluster collects outliers or one dominant behaviour.",
    ),
    "pca_2d": (
        "PCA projection",
        "The holdout rows' features projected on their two main axes, coloured by cluster.",
        "Separated colours are distinct behaviours; overlap in 2-D may still separate in the "
        "full space (the axes' share of the variance is in the title).",
    ),
    "cluster_profiles": (
        "Cluster profiles",
        "Per cluster, the mean of each numeric input (standardized across clusters here).",
        "Red is above the average of the clusters, blue below: what makes each cluster a "
        "behaviour (big baskets, long visits, deep sessions...).",
    ),
}


def _layout(fig: go.Figure, x: str, y: str, **extra: Any) -> go.Figure:
    fig.update_layout(height=HEIGHT, margin=MARGIN, template="plotly_white",
                      xaxis_title=x, yaxis_title=y, legend={"orientation": "h", "y": -0.25},
                      **extra)  # fmt: skip
    return fig


def confusion_matrix(d: dict[str, Any]) -> go.Figure:
    labels = [f"{d.get('target', 'y')}={v}" for v in d["labels"]]
    fig = go.Figure(
        go.Heatmap(
            z=d["matrix"],
            x=labels,
            y=labels,
            colorscale="Blues",
            text=d["matrix"],
            texttemplate="%{text}",
            showscale=False,
        )
    )
    return _layout(fig, "predicted", "actual", yaxis_autorange="reversed")


def roc(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=d["fpr"], y=d["tpr"], name=f"model (AUC {d['auc']:.3f})"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="chance", line={"dash": "dash"}))
    return _layout(fig, "false-positive rate", "true-positive rate")


def precision_recall(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=d["recall"], y=d["precision"], name=f"model (AP {d['ap']:.3f})"))
    fig.add_trace(go.Scatter(x=[0, 1], y=[d["prevalence"]] * 2, name="prevalence",
                             line={"dash": "dash"}))  # fmt: skip
    return _layout(fig, "recall", "precision")


def calibration(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure(
        go.Scatter(
            x=d["mean_predicted"], y=d["fraction_positive"], mode="lines+markers", name="model"
        )
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dash"}))
    centres = [i / 10 + 0.05 for i in range(10)]
    fig.add_trace(go.Bar(x=centres, y=d["histogram"], name="rows", yaxis="y2", opacity=0.3,
                         width=0.09))  # fmt: skip
    return _layout(fig, "mean predicted probability", "observed positive rate",
                   yaxis2={"overlaying": "y", "side": "right", "showgrid": False,
                           "title": "rows"})  # fmt: skip


def threshold_sweep(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for name in ("precision", "recall", "f1", "f2", "flagged"):
        fig.add_trace(go.Scatter(x=d["threshold"], y=d[name], name=name, mode="lines+markers"))
    return _layout(fig, "threshold", "value")


def permutation_importance(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure(go.Bar(x=d["mean"][::-1], y=d["feature"][::-1], orientation="h",
                           error_x={"type": "data", "array": d["std"][::-1]}))  # fmt: skip
    return _layout(fig, f"drop in {d['scoring']}", "")


def predicted_vs_actual(d: dict[str, Any]) -> go.Figure:
    low = min(min(d["actual"]), min(d["predicted"]))
    high = max(max(d["actual"]), max(d["predicted"]))
    fig = go.Figure(go.Scattergl(x=d["actual"], y=d["predicted"], mode="markers", name="trips",
                                 marker={"size": 4, "opacity": 0.5}))  # fmt: skip
    fig.add_trace(go.Scatter(x=[low, high], y=[low, high], name="exact", line={"dash": "dash"}))
    return _layout(fig, f"actual {d.get('target', '')}", "predicted")


def residuals(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure(go.Scattergl(x=d["predicted"], y=d["residual"], mode="markers",
                                 name="residual", marker={"size": 4, "opacity": 0.5}))  # fmt: skip
    centres = [(a + b) / 2 for a, b in zip(d["edges"], d["edges"][1:], strict=False)]
    fig.add_trace(go.Bar(y=centres, x=d["histogram"], orientation="h", name="histogram",
                         xaxis="x2", opacity=0.3))  # fmt: skip
    # The histogram in its own strip on the right, sharing the residual axis with the scatter.
    return _layout(fig, "predicted", "actual - predicted", xaxis={"domain": [0, 0.76]},
                   xaxis2={"domain": [0.8, 1], "title": "count", "showgrid": False})  # fmt: skip


def k_search(d: dict[str, Any]) -> go.Figure:
    entries = d["entries"]
    ks = [e["k"] for e in entries]
    fig = go.Figure(go.Scatter(x=ks, y=[e.get("silhouette") for e in entries], name="silhouette",
                               mode="lines+markers"))  # fmt: skip
    fig.add_trace(go.Scatter(x=ks, y=[e.get("davies_bouldin") for e in entries],
                             name="Davies-Bouldin", mode="lines+markers"))  # fmt: skip
    fig.add_trace(go.Scatter(x=ks, y=[e.get("inertia") for e in entries], name="inertia",
                             mode="lines+markers", yaxis="y2"))  # fmt: skip
    fig.add_vline(x=d["chosen"], line_dash="dot", annotation_text=f"K={d['chosen']}")
    return _layout(fig, "K", "silhouette / Davies-Bouldin",
                   yaxis2={"overlaying": "y", "side": "right", "title": "inertia"})  # fmt: skip


def cluster_sizes(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure(go.Bar(x=[str(c) for c in d["cluster"]], y=d["count"]))
    return _layout(fig, "cluster", "holdout rows")


def pca_2d(d: dict[str, Any]) -> go.Figure:
    fig = go.Figure()
    for cluster in sorted(set(d["cluster"])):
        rows = [i for i, c in enumerate(d["cluster"]) if c == cluster]
        fig.add_trace(go.Scattergl(x=[d["x"][i] for i in rows], y=[d["y"][i] for i in rows],
                                   mode="markers", name=f"cluster {cluster}",
                                   marker={"size": 4, "opacity": 0.6}))  # fmt: skip
    share = sum(d["explained"])
    return _layout(
        fig,
        "component 1",
        "component 2",
        title={"text": f"{share:.0%} of the variance", "font": {"size": 12}},
    )


def cluster_profiles(d: dict[str, Any]) -> go.Figure:
    numeric = d["numeric"]
    features = sorted(numeric)
    clusters = sorted({c for values in numeric.values() for c in values}, key=int)
    z = []
    for cluster in clusters:
        row = []
        for feature in features:
            values = [numeric[feature].get(c) for c in clusters]
            known = [v for v in values if v is not None]
            mean = sum(known) / len(known) if known else 0.0
            spread = (sum((v - mean) ** 2 for v in known) / len(known)) ** 0.5 if known else 0.0
            value = numeric[feature].get(cluster)
            row.append(0.0 if value is None or not spread else (value - mean) / spread)
        z.append(row)
    text = [[f"{numeric[f].get(c, float('nan')):.3g}" for f in features] for c in clusters]
    fig = go.Figure(go.Heatmap(z=z, x=features, y=[f"cluster {c}" for c in clusters],
                               colorscale="RdBu_r", zmid=0, text=text, texttemplate="%{text}",
                               colorbar={"title": "z"}))  # fmt: skip
    return _layout(fig, "", "")


FIGURES: dict[str, Callable[[dict[str, Any]], go.Figure]] = {
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


def figure(name: str, data: dict[str, Any] | None) -> go.Figure:
    """The figure of diagnostic ``name``; a blank one that says why when there is no data."""
    if not data:
        return empty("not in this run", HEIGHT)
    if "error" in data:
        return empty(f"not computable on this holdout: {data['error'][:80]}", HEIGHT)
    try:
        return FIGURES[name](data)
    except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
        return empty(f"cannot draw {name}: {type(exc).__name__}", HEIGHT)
