"""The clustering's prequential metrics and structure counters, with their explanations.

Each ``MetricSpec`` carries the text of the dashboard's ⓘ dialog, so it is written once, here.
"""

from __future__ import annotations

from datetime import timedelta

from coelho.domains.base import MetricSpec
from coelho.domains.common import docs

# Metric card groups; the time-rolling silhouette's window of event time.
QUALITY, STRUCTURE = "Cluster quality", "Model structure"
PERIOD = timedelta(minutes=5)
PERIOD = timedelta(minutes=5)


def metrics() -> tuple[MetricSpec, ...]:
    from river import metrics

    from coelho.windows import SilhouetteWindow

    formula = "Σ d(x, own centre) / Σ d(x, other centre)"
    return (
        MetricSpec("Silhouette", metrics.Silhouette,
                   "River's online silhouette: distances of sessions to their own cluster's "
                   "centre over distances to another centre, in scaled feature space. Lower "
                   "means tight, well-separated customer groups; scored once there are 2 "
                   "clusters.", higher_is_better=False, group=QUALITY, formula=formula,
                   high=None, docs=docs("metrics/Silhouette")),
        MetricSpec("RollingSilhouette", lambda: SilhouetteWindow(window_size=1000),
                   "The silhouette of the last 1,000 scored sessions: how well the current "
                   "clusters fit current behaviour.", higher_is_better=False,
                   title="Rolling silhouette (1,000)", group=QUALITY,
                   formula=f"{formula}, last 1,000 events", high=None,
                   docs=docs("utils/Rolling")),
        MetricSpec("TimeRollingSilhouette", lambda: SilhouetteWindow(period=PERIOD),
                   "The silhouette over the last 5 minutes of event time (at most 3,000 "
                   "sessions).", higher_is_better=False, title="Time-rolling silhouette (5 min)",
                   group=QUALITY, formula=f"{formula}, events with t > t_latest − 5 min",
                   high=None, docs=docs("utils/TimeRolling")),
    )  # fmt: skip


# Values the model reports beside its metrics (OnlineModel.metric_values).
COUNTERS = (
    MetricSpec("n_clusters", None,
               "Macro-clusters DBSTREAM currently forms from its micro-clusters: the customer "
               "groups.", higher_is_better=None, title="Clusters", group=STRUCTURE,
               formula="connected dense micro-clusters", high=None,
               docs=docs("cluster/DBSTREAM")),
    MetricSpec("n_micro_clusters", None,
               "Dense micro-clusters DBSTREAM keeps; they fade when sessions stop refreshing "
               "them.", higher_is_better=None, title="Micro-clusters", group=STRUCTURE,
               formula="micro-clusters with weight > minimum", high=None,
               docs=docs("cluster/DBSTREAM")),
)  # fmt: skip
