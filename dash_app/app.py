"""The Dash app factory: shell (navbar + page container), local Bootstrap, page imports.

Bootstrap's CSS is served by this app from the ``bootstrap-flask`` wheel instead of a CDN:
the dashboard must work offline, and its browser tests may send only loopback traffic.
Pages are imported explicitly after the app exists (``pages_folder=""``), so each page module
is loaded exactly once under its package name and tests can import it too.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Dash, html

from coelho.domains import REGISTRY
from dash_app import config, ids
from dash_app.clients.problem import Problem
from dash_app.components.alerts import alert
from dash_app.components.navbar import navbar
from dash_app.config import DashConfig

log = logging.getLogger(__name__)
# Each registered domain has its page module, named by its key (pages/<key>.py).
PAGES = ("home", *REGISTRY, "sql", "batch", "not_found_404")
VENDOR_PATH = "/vendor/bootstrap"


def bootstrap_dir() -> Path | None:
    """Bootstrap 5's css folder inside the installed ``bootstrap-flask`` wheel."""
    spec = importlib.util.find_spec("flask_bootstrap")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / "bootstrap5" / "css"
    return folder if (folder / "bootstrap.min.css").is_file() else None


def shell() -> html.Div:
    """The layout around every page (a function: services.json is re-read per visit)."""
    return html.Div(
        [
            navbar(config.get()),
            dbc.Container(
                [html.Div(id=ids.APP_ERROR), dash.page_container], fluid=True, className="pb-4"
            ),
        ]
    )


def on_error(exc: Exception) -> None:
    """Any callback failure the callbacks did not turn into a Problem: logged with its
    traceback, and said in the page instead of leaving it silently stale."""
    log.exception("callback failed", exc_info=exc)
    problem = Problem(
        "Something went wrong in the dashboard",
        f"{type(exc).__name__}; the details are in the dashboard's log. Reload to retry.",
    )
    dash.set_props(ids.APP_ERROR, {"children": alert(problem)})


def create_app(cfg: DashConfig | None = None) -> Dash:
    """A ready-to-serve app using ``cfg`` (default: from the environment)."""
    config.use(cfg or DashConfig.from_env())
    css = bootstrap_dir()
    if css is None:
        log.warning("bootstrap-flask is not installed: pages render without Bootstrap styles")
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        external_stylesheets=[f"{VENDOR_PATH}/bootstrap.min.css"] if css else [],
        suppress_callback_exceptions=True,  # page components exist only on their page
        title="COELHO RealTime",
        update_title=None,
        on_error=on_error,
    )
    if css is not None:
        _serve_vendor(app.server, css)
    for name in PAGES:
        module = importlib.import_module(f"dash_app.pages.{name}")
        # What Dash's own pages_folder import does once a page module has run.
        dash.page_registry[module.__name__]["layout"] = module.layout
    app.layout = shell
    return app


def _serve_vendor(server: Any, folder: Path) -> None:
    from flask import send_from_directory

    def vendor(name: str) -> Any:
        return send_from_directory(folder, name, max_age=86_400)

    server.add_url_rule(f"{VENDOR_PATH}/<path:name>", "coelho_vendor", vendor)
