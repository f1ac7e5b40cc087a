"""Component ids, prefixed per page so that no two pages can collide; each is spelled here once.

The three domain pages share their panels (form, model, training, metrics). Those ids are
dicts carrying the page: ``part("tfd", PREDICT) == {"page": "tfd", "kind": "predict"}``, so one
set of module-level callbacks serves every domain page through ``MATCH`` on ``page`` while the
ids of two pages can never collide. Form fields add the dotted field path (``device_info.os``
is not a valid plain id). Components that only one page has use plain ``"<page>-<name>"`` ids.
"""

from __future__ import annotations

from typing import Any

# App shell and home page.
NAVBAR = "nav"
APP_ERROR = "app-error"
HOME_INTERVAL = "home-interval"
HOME_CARDS = "home-cards"
HOME_UPDATED = "home-updated"

# The Delta Lake SQL page (one page, /<domain>/sql; only one is shown at a time).
SQL_DOMAIN = "sql-domain"
SQL_TEMPLATE = "sql-template"
SQL_EDITOR = "sql-editor"
SQL_RUN = "sql-run"
SQL_CLEAR = "sql-clear"
SQL_ALERT = "sql-alert"
SQL_TABLE = "sql-table"
SQL_RESULT = "sql-result"
SQL_COUNTER = "sql-counter"

# The Batch ML page (one page, /<domain>/batch; only one is shown at a time).
BATCH_DOMAIN = "batch-domain"
BATCH_MODE = "batch-mode"
BATCH_ROWS = "batch-rows"
BATCH_PERCENT = "batch-percent"
BATCH_TRAIN = "batch-train"
BATCH_STOP = "batch-stop"
BATCH_FEEDBACK = "batch-feedback"
BATCH_REQUEST = "batch-request"
BATCH_PROGRESS = "batch-progress"
BATCH_STAGE = "batch-stage"
BATCH_KLOG = "batch-klog"
BATCH_INTERVAL = "batch-interval"
BATCH_RUNS_INTERVAL = "batch-runs-interval"
BATCH_RUN = "batch-run"
BATCH_LAST = "batch-last"
BATCH_RUN_INFO = "batch-run-info"
BATCH_METRICS = "batch-metrics"
BATCH_COMPARE = "batch-compare"
BATCH_DIAGNOSTICS = "batch-diagnostics"
BATCH_MODEL = "batch-model"
BATCH_RESULT = "batch-result"
# Kinds of the Batch ML page's form (its fields are ``field("batch-<domain>", path)``).
BATCH_RANDOMIZE = "batch-randomize"
BATCH_PREDICT = "batch-predict"
BATCH_FORM_ALERT = "batch-form-alert"

# Kinds of the shared domain-page parts.
INTERVAL = "interval"
FIELD = "field"
FIELD_DATE = "field-date"
RANDOMIZE = "randomize"
PREDICT = "predict"
FORM_ALERT = "form-alert"
RESULT_STORE = "result-store"
RESULT_ALERT = "result-alert"
MODEL_SELECT = "model-select"
MODEL_INFO = "model-info"
TRAINING_SWITCH = "training-switch"
TRAINING_FEEDBACK = "training-feedback"
TRAINING_STATUS = "training-status"
METRIC = "metric"
METRICS_NOTE = "metrics-note"
METRICS_SEEN = "metrics-seen"
METRIC_VALUE = "metric-value"
METRIC_GAUGE = "metric-gauge"
METRIC_INFO = "metric-info"
METRIC_DIALOG = "metric-dialog"
METRIC_DIALOG_TITLE = "metric-dialog-title"
METRIC_DIALOG_BODY = "metric-dialog-body"
PANEL_FIGURE = "panel-figure"
RANDOM_POINTS = "random-points"


def part(page: str, kind: str) -> dict[str, Any]:
    """Id of a shared part of a domain page; ``page`` may be ``dash.MATCH``."""
    return {"page": page, "kind": kind}


def field(page: str, path: Any) -> dict[str, Any]:
    """Id of a form input; ``path`` is a dotted field path or ``dash.ALL``."""
    return {"page": page, "kind": FIELD, "path": path}


def field_date(page: str, path: Any) -> dict[str, Any]:
    """Id of the date picker of timestamp field ``path`` (its value is ``date``)."""
    return {"page": page, "kind": FIELD_DATE, "path": path}


def metric(page: str, name: Any) -> dict[str, Any]:
    """Id of a metric's time-series graph; ``name`` may be ``dash.ALL``."""
    return {"page": page, "kind": METRIC, "metric": name}


def metric_part(page: str, kind: str, name: Any) -> dict[str, Any]:
    """Id of one metric's value, gauge or ⓘ button (``kind``: METRIC_VALUE, ...)."""
    return {"page": page, "kind": kind, "metric": name}


def panel_figure(page: str, name: Any) -> dict[str, Any]:
    """Id of a figure of the metrics panel (confusion matrix, classification report, map)."""
    return {"page": page, "kind": PANEL_FIGURE, "name": name}


def page_id(page: str, name: str) -> str:
    """Plain id of a component only one page has: ``page_id("tfd", "gauge") == "tfd-gauge"``."""
    return f"{page}-{name}"


def batch_page(domain: str) -> str:
    """The page key of a domain's Batch ML form (its field ids never meet the live page's)."""
    return f"batch-{domain}"


def page_domain(page: str) -> str:
    """The domain key of a form's page key (live page or Batch ML form).

    >>> page_domain("batch-eta"), page_domain("eta")
    ('eta', 'eta')
    """
    return page.removeprefix(batch_page(""))


def help_id(page: str, name: str) -> str:
    """Target of a hover explanation (tooltips need a plain id)."""
    return f"{page}-help-{name.replace('.', '-')}"
