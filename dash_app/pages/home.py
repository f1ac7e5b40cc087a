"""Home: one card per domain with its learning counters, headline metric and function health."""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html

from coelho.domains import REGISTRY, Domain
from dash_app import config, ids
from dash_app.clients import health, mlflow, state
from dash_app.clients.problem import Problem
from dash_app.components.alerts import muted
from dash_app.components.metrics_panel import help_text
from dash_app.components.navbar import service_links
from dash_app.config import DashConfig

HOME_REFRESH_MS = 5000
BADGE = {"ready": "success", "not ready": "warning", "down": "danger", "unknown": "secondary"}

dash.register_page(
    __name__,
    path="/",
    name="Home",
    order=0,
    title="COELHO RealTime",
    description="Real-time machine learning as serverless functions",
)


def layout(**kwargs: Any) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H1("COELHO RealTime Serverless", className="mb-1"),
                    html.P(
                        "Events flow from Kafka through Knative Eventing into stateless learn "
                        "functions; every model learns one event at a time and answers at its "
                        "predict URL.",
                        className="lead mb-0",
                    ),
                ],
                className="coelho-hero mb-4",
            ),
            html.Div(cards(), id=ids.HOME_CARDS),
            html.Div(id=ids.HOME_UPDATED, className="small text-muted mb-4"),
            data_path(),
            services(config.get()),
            dcc.Interval(
                id=ids.HOME_INTERVAL, interval=max(config.get().refresh_ms, HOME_REFRESH_MS)
            ),
        ]
    )


# The path of one event, as the README tells it; the page names the same parts.
STEPS = (
    ("Kafka topic", "a producer writes each domain event, keyed, to the domain's topic"),
    ("KafkaSource", "turns every record into a CloudEvent stamped with its domain"),
    ("Broker + Trigger", "routes the CloudEvent by type and domain to learn-<domain>"),
    ("learn-<domain>", "validates it and appends it once to the domain's Redis log"),
    ("single writer", "predicts, scores the prequential metrics, then learns; checkpoints"),
    ("predict-<domain>", "answers from the live checkpoint or a registered MLflow version"),
)


def data_path() -> html.Div:
    steps = [
        dbc.Col(
            dbc.Card(dbc.CardBody([html.Strong(name), html.Div(what, className="small")])),
            className="mb-2",
        )
        for name, what in STEPS
    ]
    return html.Div(
        [html.H5("The path of one event"), dbc.Row(steps, className="g-2")], className="mb-4"
    )


def services(cfg: DashConfig) -> html.Div:
    links = [
        html.Li(html.A(label, href=href, target="_blank")) for label, href in service_links(cfg)
    ]
    return html.Div([html.H5("Services"), html.Ul(links or [html.Li("none configured")])])


def _functions(domain: Domain) -> list[str]:
    return [f"learn-{domain.key}", f"predict-{domain.key}"]


def registry_line(cfg: DashConfig, key: str) -> str:
    """Newest registered version and the champion, from MLflow."""
    found = mlflow.versions(cfg, key)
    if isinstance(found, Problem):
        return found.message
    if not found:
        return "no snapshot registered yet"
    champion = next((v.version for v in found if "champion" in v.aliases), None)
    return f"registered v{found[0].version}" + (f" · champion v{champion}" if champion else "")


def domain_card(
    domain: Domain,
    status: dict[str, Any] | Problem,
    rate: float,
    probes: dict[str, health.Health],
    registry: str = "",
) -> dbc.Card:
    if isinstance(status, Problem):
        numbers: Any = muted(status.text())
    else:
        headline = domain.headline_metric
        value = (status.get("metrics") or {}).get(headline)
        target = ids.help_id(f"home-{domain.key}", headline)
        numbers = html.Div(
            [
                html.Div(
                    [
                        html.Span(
                            f"{status.get('events_learned', 0):,}",
                            className="fs-4 fw-bold coelho-learned",
                        ),
                        " events learned · ",
                        html.Span(f"{rate:,.1f}"),
                        " events/s",
                    ]
                ),
                html.Div(
                    [
                        html.Span(f"{headline} ", id=target, className="coelho-help"),
                        html.Strong("—" if value is None else f"{value:.4f}"),
                        dbc.Tooltip(help_text(domain, headline), target=target),
                    ]
                ),
                html.Div(
                    f"model {status.get('model') or '—'} · state version "
                    f"{status.get('state_version', 0)}",
                    className="small text-muted",
                ),
                html.Div(f"MLflow: {registry}", className="small text-muted") if registry else None,
            ]
        )
    badges = [
        dbc.Badge(
            f"{name}: {probes[name].state}",
            color=BADGE[probes[name].state],
            className="me-1 coelho-health",
            title=probes[name].message or None,
        )
        for name in _functions(domain)
    ]
    return dbc.Card(
        [
            dbc.CardHeader(dcc.Link(html.Strong(domain.title), href=f"/{domain.key}")),
            dbc.CardBody(
                [
                    html.P(domain.summary, className="text-muted small mb-2"),
                    numbers,
                    html.Div(badges, className="mt-2"),
                ]
            ),
        ],
        className=f"h-100 coelho-card-{domain.key}",
    )


def cards(now: float | None = None) -> dbc.Row:
    cfg = config.get()
    now = time.time() if now is None else now
    names = [n for d in REGISTRY.values() for n in _functions(d)]
    probes = health.probe_all(cfg.function_urls(names))
    cols = []
    for domain in REGISTRY.values():
        status = state.status(cfg, domain.key)
        points = state.history(cfg, domain.key, count=60)
        rate = state.rate(points, now) if isinstance(points, list) else 0.0
        card = domain_card(domain, status, rate, probes, registry_line(cfg, domain.key))
        cols.append(dbc.Col(card, md=4, className="mb-3"))
    return dbc.Row(cols)


@callback(
    Output(ids.HOME_CARDS, "children"),
    Output(ids.HOME_UPDATED, "children"),
    Input(ids.HOME_INTERVAL, "n_intervals"),
    prevent_initial_call=True,
)
def refresh(_n: int | None) -> tuple[Any, str]:
    return cards(), f"updated {time.strftime('%H:%M:%S')}"
