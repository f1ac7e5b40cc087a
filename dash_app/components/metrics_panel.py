"""Every metric a domain's model reports, as cards grouped like the seed's dashboard.

The cards come from the domain registry (``Domain.metric_specs()``: River metrics and the
model's own counters), so a metric added to a domain gets a card without touching a page.
Each card shows the latest value, its change over the shown history (green when it moved the
better way), the better direction and a sparkline; ⓘ opens a dialog whose text is the
``MetricSpec``'s (``metric_info``). Below: gauges of the specs marked ``gauge``, then the
figures the domain's task calls for (binary: confusion matrix and classification report;
a domain with a ``location``: recent events on a map coloured by cluster). All of it is
refreshed from one read of the capped history stream (``dash_app.clients.state``).
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from coelho.domains import Domain, MetricSpec, get
from dash_app import config, ids
from dash_app.clients import state
from dash_app.clients.problem import Problem
from dash_app.components import figures, metric_figures, metric_info
from dash_app.components.alerts import muted

STATIC = {"displayModeBar": False}


def groups(domain: Domain) -> dict[str, list[MetricSpec]]:
    """The domain's metric specs by group, groups in order of first appearance."""
    found: dict[str, list[MetricSpec]] = {}
    for spec in domain.metric_specs():
        found.setdefault(spec.group or "Metrics", []).append(spec)
    return found


def panel_figures(domain: Domain) -> tuple[str, ...]:
    """Names of the figures below the cards that the domain's task calls for."""
    names: tuple[str, ...] = ()
    if domain.task == "binary" and len(domain.class_names) == 2:
        names += ("confusion", "report")
    if domain.location:
        names += ("locations",)
    return names


def spec_of(domain: Domain, name: str) -> MetricSpec:
    for spec in domain.metric_specs():
        if spec.name == name:
            return spec
    raise KeyError(f"{domain.key}: no metric {name!r} to explain")


def help_text(domain: Domain, name: str) -> str:
    """The one-line explanation of metric ``name`` of ``domain`` (e.g. for a tooltip)."""
    spec = spec_of(domain, name)
    return f"{spec.help} ({direction(spec)})"


def direction(spec: MetricSpec) -> str:
    if spec.higher_is_better is None:
        return "count"
    return "↑ higher is better" if spec.higher_is_better else "↓ lower is better"


def tile(page: str, spec: MetricSpec) -> dbc.Card:
    """One metric's card: label, ⓘ, value and trend, direction, sparkline."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [
                        html.Span(spec.label, className="small fw-bold lh-sm"),
                        html.Button(
                            "i",
                            id=ids.metric_part(page, ids.METRIC_INFO, spec.name),
                            className="coelho-info border-0 ms-1",
                            title=f"What is {spec.label}?",
                            n_clicks=0,
                        ),
                    ],
                    className="d-flex justify-content-between align-items-start",
                ),
                html.Div("—", id=ids.metric_part(page, ids.METRIC_VALUE, spec.name)),
                html.Div(direction(spec), className="coelho-direction text-muted"),
                dcc.Graph(
                    id=ids.metric(page, spec.name),
                    figure=metric_figures.sparkline([], spec),
                    config=STATIC,
                    className="coelho-spark",
                ),
            ],
            className="p-2",
        ),
        className="coelho-metric h-100",
    )


def _graph(cid: dict[str, Any], message: str, height: int) -> dcc.Graph:
    return dcc.Graph(id=cid, figure=figures.empty(message, height), config=STATIC)


def card(page: str, extra: Any = None) -> dbc.Card:
    """The panel of domain page ``page``; ``extra`` goes at the bottom."""
    domain = get(page)
    body: list[Any] = [
        html.Div(id=ids.part(page, ids.METRICS_NOTE)),
        dcc.Store(id=ids.part(page, ids.METRICS_SEEN)),
    ]
    for group, specs in groups(domain).items():
        body.append(html.H6(group, className="coelho-metric-group mt-2"))
        cells = [dbc.Col(tile(page, s), xs=6, md=4, xxl=3) for s in specs]
        body.append(dbc.Row(cells, className="g-2"))
    gauges = [s for s in domain.metric_specs() if s.gauge]
    if gauges:
        body.append(
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Div(spec.label, className="small fw-bold text-center"),
                            _graph(
                                ids.metric_part(page, ids.METRIC_GAUGE, spec.name),
                                "loading…",
                                metric_figures.GAUGE_HEIGHT,
                            ),
                        ],
                        md=6,
                    )
                    for spec in gauges
                ],
                className="g-2 mt-2",
            )
        )
    shown = panel_figures(domain)
    if "confusion" in shown:
        body.append(
            dbc.Row(
                [
                    dbc.Col(_graph(ids.panel_figure(page, "confusion"), "loading…", 240), md=6),
                    dbc.Col(_graph(ids.panel_figure(page, "report"), "loading…", 240), md=6),
                ],
                className="g-2 mt-2",
            )
        )
    if "locations" in shown:
        body += [
            html.H6("Recent events by cluster", className="coelho-metric-group mt-3"),
            _graph(ids.panel_figure(page, "locations"), "loading…", 320),
        ]
    if extra is not None:
        body.append(extra)
    header = [
        html.Strong("Prequential metrics"),
        html.Span(" — each event is scored before the model learns it; ",
                  className="small text-muted"),
        html.Span("i", className="coelho-info"),
        html.Span(" explains a metric", className="small text-muted"),
    ]  # fmt: skip
    return dbc.Card(
        [dbc.CardHeader(header), dbc.CardBody(body), metric_info.dialog(page)],
        className="mb-3",
    )


def value_line(points: list[state.Point], spec: MetricSpec) -> Any:
    """The latest value, and its change over the shown history coloured by direction."""
    latest = next((p.m[spec.name] for p in reversed(points) if spec.name in p.m), None)
    if latest is None:
        return html.Span("—", className="coelho-metric-value text-muted")
    parts: list[Any] = [
        html.Span(metric_figures.number(latest, spec), className="coelho-metric-value")
    ]
    moved = metric_figures.trend(points, spec)
    if moved is not None:
        change, colour = moved
        arrow = "▲" if change > 0 else "▼" if change < 0 else "■"
        shown = metric_figures.number(abs(change), spec)
        parts.append(html.Span(f" {arrow} {shown}", style={"color": colour}, className="small"))
    return html.Div(parts)


def panel_figure(cfg: config.DashConfig, domain: Domain, name: str, points: list[Any]) -> Any:
    latest = points[-1].m if points else {}
    if name == "confusion":
        return figures.confusion(latest, domain.class_names)
    if name == "report":
        return metric_figures.classification_report(latest, domain.class_names)
    found = state.analytics(cfg, domain.key)
    if isinstance(found, Problem):
        return figures.empty(found.title, 320)
    return metric_figures.locations(found.recent, cfg.map_tiles)


def signature(points: list[Any] | Problem) -> list[Any]:
    """What the panel last drew from: the newest point (or the problem)."""
    if isinstance(points, Problem):
        return ["problem", points.title]
    return [len(points), points[-1].t, points[-1].n] if points else [0]


def refresh_all(
    page: str, names: list[str], gauges: list[str], extras: list[str], seen: Any = None
) -> tuple[Any, ...] | None:
    """(sparklines, value lines, gauges, panel figures, note, signature) from one history
    read; None when the history has not moved since ``seen`` (nothing to redraw)."""
    cfg = config.get()
    domain = get(page)
    specs = {s.name: s for s in domain.metric_specs()}
    points = state.history(cfg, page)
    drawn = signature(points)
    if seen == drawn:
        return None
    if isinstance(points, Problem):
        blank = figures.empty(points.title, 150)
        return ([metric_figures.sparkline([], specs[n]) for n in names],
                ["—" for _ in names], [blank for _ in gauges], [blank for _ in extras],
                muted(points.text()), drawn)  # fmt: skip
    note = None if points else muted("No metric points yet: they appear once events flow.")
    latest = points[-1].m if points else {}
    return (
        [metric_figures.sparkline(points, specs[n]) for n in names],
        [value_line(points, specs[n]) for n in names],
        [metric_figures.gauge(latest.get(n), specs[n]) for n in gauges],
        [panel_figure(cfg, domain, n, points) for n in extras],
        note,
        drawn,
    )


@callback(
    Output(ids.metric(MATCH, ALL), "figure"),
    Output(ids.metric_part(MATCH, ids.METRIC_VALUE, ALL), "children"),
    Output(ids.metric_part(MATCH, ids.METRIC_GAUGE, ALL), "figure"),
    Output(ids.panel_figure(MATCH, ALL), "figure"),
    Output(ids.part(MATCH, ids.METRICS_NOTE), "children"),
    Output(ids.part(MATCH, ids.METRICS_SEEN), "data"),
    Input(ids.part(MATCH, ids.INTERVAL), "n_intervals"),
    State(ids.metric(MATCH, ALL), "id"),
    State(ids.metric_part(MATCH, ids.METRIC_GAUGE, ALL), "id"),
    State(ids.panel_figure(MATCH, ALL), "id"),
    State(ids.part(MATCH, ids.METRICS_SEEN), "id"),
    State(ids.part(MATCH, ids.METRICS_SEEN), "data"),
)
def refresh(
    _n: int | None,
    metric_ids: list[dict[str, Any]],
    gauge_ids: list[dict[str, Any]],
    figure_ids: list[dict[str, Any]],
    seen_id: dict[str, Any],
    seen: Any,
) -> tuple[Any, ...]:
    drawn = refresh_all(
        seen_id["page"],
        [m["metric"] for m in metric_ids],
        [g["metric"] for g in gauge_ids],
        [f["name"] for f in figure_ids],
        seen,
    )
    if drawn is None:
        raise PreventUpdate
    return drawn
