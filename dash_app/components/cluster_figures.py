"""Figures of the ECCI cluster analytics: value counts per cluster, binned when numeric."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go

from dash_app.components.figures import empty

MAX_BARS = 12


def _label(value: Any) -> str:
    return "(none)" if value is None else str(value)


def binned(counter: Mapping[Any, int]) -> dict[str, int]:
    """Category counts as-is; many distinct numbers grouped into at most ``MAX_BARS`` ranges."""
    numbers = [k for k in counter if isinstance(k, int | float) and not isinstance(k, bool)]
    if len(numbers) <= MAX_BARS or len(numbers) < len(counter) - 1:
        ordered = sorted(counter.items(), key=lambda kv: (-kv[1], _label(kv[0])))
        return {_label(k): v for k, v in ordered}
    low, high = min(numbers), max(numbers)
    width = max((high - low) / MAX_BARS, 1e-9)
    bins: dict[str, int] = {}
    edges = [low + i * width for i in range(MAX_BARS + 1)]
    names = [f"{edges[i]:,.0f}–{edges[i + 1]:,.0f}" for i in range(MAX_BARS)]
    for name in names:
        bins[name] = 0
    for key, count in counter.items():
        if key in numbers:
            bins[names[min(int((key - low) / width), MAX_BARS - 1)]] += count
        else:
            bins[_label(key)] = bins.get(_label(key), 0) + count
    return bins


def bars(counter: Mapping[Any, int], title: str, height: int = 260) -> go.Figure:
    data = binned(counter)
    if not data:
        return empty("no samples yet", height=height)
    fig = go.Figure(go.Bar(x=list(data), y=list(data.values()), marker_color="#5e35b1"))
    fig.update_layout(
        height=height,
        margin={"l": 40, "r": 10, "t": 40, "b": 60},
        title={"text": title, "font": {"size": 13}},
        template="plotly_white",
    )
    return fig


def samples_per_cluster(counts: Mapping[int, int]) -> go.Figure:
    if not counts:
        return empty("no cluster has samples yet", height=260)
    keys = sorted(counts)
    fig = go.Figure(
        go.Bar(
            x=[f"cluster {k}" for k in keys], y=[counts[k] for k in keys], marker_color="#00897b"
        )
    )
    fig.update_layout(
        height=260,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        title={"text": "Samples per cluster", "font": {"size": 13}},
        template="plotly_white",
    )
    return fig


def distribution(
    profiles: Mapping[int, Mapping[str, Mapping[Any, int]]], feature: str
) -> go.Figure:
    """Share of each value of ``feature`` within every cluster (grouped bars)."""
    per_cluster = {c: binned(p.get(feature) or {}) for c, p in sorted(profiles.items())}
    per_cluster = {c: d for c, d in per_cluster.items() if d}
    if not per_cluster:
        return empty(f"no {feature} values recorded yet", height=300)
    values: list[str] = []
    for data in per_cluster.values():
        values.extend(v for v in data if v not in values)
    fig = go.Figure()
    for cluster, data in per_cluster.items():
        total = sum(data.values()) or 1
        fig.add_trace(
            go.Bar(
                name=f"cluster {cluster}",
                x=values,
                y=[100.0 * data.get(v, 0) / total for v in values],
            )
        )
    fig.update_layout(
        barmode="group",
        height=300,
        template="plotly_white",
        margin={"l": 50, "r": 10, "t": 40, "b": 60},
        yaxis={"title": "% of cluster"},
        title={"text": f"{feature} across clusters", "font": {"size": 13}},
    )
    return fig
