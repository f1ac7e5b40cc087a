"""The ETA model's prequential metrics, with their explanations.

Each ``MetricSpec`` carries the text of the dashboard's ⓘ dialog, so it is written once, here.
"""

from __future__ import annotations

from coelho.domains.base import MetricSpec
from coelho.domains.common import docs

# Metric card groups.
ERROR, RELATIVE, WINDOWS = "Error (seconds)", "Relative", "Windows"


def metrics() -> tuple[MetricSpec, ...]:
    from river import metrics, utils

    from coelho.windows import TimeWindow

    return (
        MetricSpec("MAE", metrics.MAE,
                   "Mean absolute error of the predicted trip duration, in seconds: how far off "
                   "a delivery promise is on average.", False, group=ERROR,
                   formula="mean |y − ŷ|", high=None, docs=docs("metrics/MAE")),
        MetricSpec("RMSE", metrics.RMSE,
                   "Root mean squared error in seconds: like MAE, but the few very late trips "
                   "(incidents, storms) weigh more.", False, group=ERROR,
                   formula="√(mean (y − ŷ)²)", high=None, docs=docs("metrics/RMSE")),
        MetricSpec("MSE", metrics.MSE, "Mean squared error, in seconds².", False, group=ERROR,
                   formula="mean (y − ŷ)²", high=None, docs=docs("metrics/MSE")),
        MetricSpec("R2", metrics.R2,
                   "Share of the variance of trip durations the model explains; 0 is as good "
                   "as always predicting the mean duration, below 0 worse.",
                   title="R²", group=RELATIVE, formula="1 − Σ(y − ŷ)² / Σ(y − ȳ)²", low=None,
                   docs=docs("metrics/R2")),
        MetricSpec("MAPE", metrics.MAPE,
                   "Mean absolute error as a percentage of the actual duration: a 5-minute "
                   "miss matters more on a 10-minute trip.", False, group=RELATIVE,
                   formula="100 · mean |y − ŷ| / |y|", high=None, docs=docs("metrics/MAPE")),
        MetricSpec("SMAPE", metrics.SMAPE,
                   "Symmetric percentage error: bounded, and treats over- and under-estimates "
                   "alike.", False, group=RELATIVE,
                   formula="100 · mean 2|y − ŷ| / (|y| + |ŷ|)", high=200.0,
                   docs=docs("metrics/SMAPE")),
        MetricSpec("RMSLE", metrics.RMSLE,
                   "RMSE of log durations: relative misses, so short and long trips count "
                   "alike.", False, group=RELATIVE, formula="√(mean (ln(1 + y) − ln(1 + ŷ))²)",
                   high=None, docs=docs("metrics/RMSLE")),
        MetricSpec("RollingMAE", lambda: utils.Rolling(metrics.MAE, window_size=1000),
                   "MAE over the last 1,000 trips: reacts to drift (rush hour, bad weather). "
                   "The model guard watches it.", False, title="Rolling MAE (1,000)",
                   group=WINDOWS, formula="MAE of the last 1,000 events", high=None,
                   docs=docs("utils/Rolling")),
        MetricSpec("RollingRMSE", lambda: utils.Rolling(metrics.RMSE, window_size=1000),
                   "RMSE over the last 1,000 trips.", False, title="Rolling RMSE (1,000)",
                   group=WINDOWS, formula="RMSE of the last 1,000 events", high=None,
                   docs=docs("utils/Rolling")),
        MetricSpec("TimeRollingMAE", lambda: TimeWindow(metrics.MAE),
                   "MAE over the last 5 minutes of event time (trip timestamps, at most 3,000 "
                   "trips): the error of the trips happening now.", False,
                   title="Time-rolling MAE (5 min)", group=WINDOWS,
                   formula="MAE of events with t > t_latest − 5 min", high=None,
                   docs=docs("utils/TimeRolling")),
    )  # fmt: skip
