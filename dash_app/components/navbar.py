"""The navbar: the three applications, their Batch ML and SQL pages, and the stack's URLs."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from coelho.domains import REGISTRY
from dash_app import ids
from dash_app.config import DashConfig


def service_links(cfg: DashConfig) -> list[tuple[str, str]]:
    """``(label, href)`` of every service a user may want to open, configured ones only: the
    stack's servers (the seed's Services menu), the emulator, then each function's readiness."""
    links: list[tuple[str, str]] = []
    for label, href in (
        ("MLflow", cfg.mlflow_link),
        ("MinIO console", cfg.minio_console_link),
        ("Prometheus", cfg.prometheus_link),
        ("Grafana", cfg.grafana_link),
        ("Alertmanager", cfg.alertmanager_link),
    ):
        if href:
            links.append((label, href))
    if cfg.emulator_url and cfg.control == "emulator":
        links.append(("Eventing emulator status", f"{cfg.emulator_url}/status"))
    names = [f"{kind}-{key}" for key in REGISTRY for kind in ("learn", "predict")]
    names += sorted(n for n in cfg.services() if n not in names)
    for name in names:
        url = cfg.function_url(name)
        if url:
            links.append((f"{name} (readiness)", f"{url}/health/readiness"))
    return links


def navbar(cfg: DashConfig) -> dbc.Navbar:
    apps = [
        dbc.NavItem(dbc.NavLink(d.summary or d.title, href=f"/{d.key}", active="exact"))
        for d in REGISTRY.values()
    ]
    sql = dbc.DropdownMenu(
        [dbc.DropdownMenuItem(d.title, href=f"/{d.key}/sql") for d in REGISTRY.values()],
        label="Delta Lake SQL",
        nav=True,
        align_end=True,
    )
    batch = dbc.DropdownMenu(
        [dbc.DropdownMenuItem(d.title, href=f"/{d.key}/batch") for d in REGISTRY.values()
         if d.batch is not None],
        label="Batch ML",
        nav=True,
        align_end=True,
    )  # fmt: skip
    links = service_links(cfg)
    services = dbc.DropdownMenu(
        [
            dbc.DropdownMenuItem(label, href=href, target="_blank", external_link=True)
            for label, href in links
        ]
        or [dbc.DropdownMenuItem("none configured", disabled=True)],
        label="Services",
        nav=True,
        align_end=True,
    )
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(html.Span(["COELHO ", html.Small("RealTime")]), href="/"),
                dbc.Nav([*apps, batch, sql, services], navbar=True, className="ms-auto"),
            ],
            fluid=True,
        ),
        id=ids.NAVBAR,
        color="dark",
        dark=True,
        className="mb-3",
    )
