"""The tabs of one domain, like the seed's: Incremental ML / Batch ML / Delta Lake SQL."""

from __future__ import annotations

import dash_bootstrap_components as dbc

from coelho.domains import Domain

TABS = (("incremental", "Incremental ML", ""), ("batch", "Batch ML", "/batch"),
        ("sql", "Delta Lake SQL", "/sql"))  # fmt: skip


def tabs(domain: Domain, active: str) -> dbc.Nav:
    """Links to the domain's three pages; ``active`` is incremental, batch or sql."""
    items = []
    for key, label, suffix in TABS:
        if key == "batch" and domain.batch is None or key == "sql" and not domain.table:
            continue
        items.append(dbc.NavItem(dbc.NavLink(label, href=f"/{domain.key}{suffix}",
                                             active=key == active)))  # fmt: skip
    return dbc.Nav(items, pills=True, className="mb-3 coelho-domain-tabs")
