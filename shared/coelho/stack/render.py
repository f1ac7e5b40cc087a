"""Terminal output of the stack: one progress line per component, then a table of URLs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CHECK = "\u2713"
SHOWN_METRICS = 4


def progress_line(name: str, address: str, seconds: float) -> str:
    return f"  {CHECK} {name:<16} {address:<34} {seconds:5.1f} s"


def table(rows: Iterable[Sequence[str]], headers: Sequence[str]) -> str:
    """A plain table, each column as wide as its widest cell."""
    all_rows = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in all_rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def services_table(services: Mapping[str, str]) -> str:
    return table(services.items(), ("service", "address"))


def domains_table(domains: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per domain: counters, state version and its first metrics (the headline first;
    ``--json`` has them all)."""
    rows = []
    for key, info in domains.items():
        items = list((info.get("metrics") or {}).items())
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in items[:SHOWN_METRICS])
        if len(items) > SHOWN_METRICS:
            metrics += ", …"
        rows.append(
            (
                key,
                str(info.get("events_learned", 0)),
                str(info.get("duplicates_skipped", 0)),
                str(info.get("dead_lettered", 0)),
                str(info.get("state_version", 0)),
                str(info.get("archived_events", 0)),
                _lag(info),
                (info.get("health") or {}).get("state", "ok"),
                metrics or "-",
            )
        )
    headers = ("domain", "learned", "duplicates", "dead-lettered", "version", "archived",
               "archive lag", "health", "metrics")  # fmt: skip
    return table(rows, headers)


def _lag(info: Mapping[str, Any]) -> str:
    """The archive lag as ``<events> ev / <seconds> s`` (``?`` while the count is unknown)."""
    events = info.get("archive_lag_events")
    return f"{'?' if events is None else events} ev / {info.get('archive_lag_seconds', 0):g} s"


def size(n: float) -> str:
    """Bytes for people: ``size(1536) == "1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def usage_line(home: str, usage: Mapping[str, int]) -> str:
    """The data directory's size, largest parts first."""
    parts = sorted(((k, v) for k, v in usage.items() if k != "total"), key=lambda kv: -kv[1])
    detail = ", ".join(f"{name} {size(n)}" for name, n in parts if n)
    return f"data {home}: {size(usage.get('total', 0))}" + (f" ({detail})" if detail else "")
