"""The soak's analysis: growth per 100,000 events after the warm-up, and its targets.

Each series is fitted (least squares) against events learned over the steady window: from the
warm-up's end (every domain's log full and ``warmup`` seconds passed) to the first sample with
every event learned. RSS is judged by the processes alive through the whole window; a
component's short-lived children count in its peak only (``resident``).
"""

from __future__ import annotations

from typing import Any

MB = 1024 * 1024
WARMUP_SECONDS = 180.0


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 for fewer than two distinct xs)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var


def analyse(
    samples: list[dict[str, Any]],
    retention: int,
    keep: int,
    run: dict[str, Any],
    warmup: float = WARMUP_SECONDS,
) -> dict[str, Any]:
    """Growth per 100k events after the warm-up, and the three targets."""
    full = [
        i
        for i, s in enumerate(samples)
        if s["t"] >= warmup and min(s["learned_by_domain"].values()) >= retention
    ]
    # From the warm-up to the first sample with every event learned (idle samples after it
    # would pile up at one x and weigh on the fit).
    total = samples[-1]["learned"] if samples else 0
    end = next((i for i, s in enumerate(samples) if s["learned"] >= total), len(samples) - 1)
    steady = samples[full[0] : end + 1] if full else []
    result: dict[str, Any] = {**run, "samples": len(samples), "steady_samples": len(steady)}
    last = samples[-1] if samples else {}
    result["events_learned"] = last.get("learned", 0)
    result["duration_s"] = last.get("t", 0)
    loads = [s["load"] for s in samples]
    result["load_avg"] = [round(min(loads), 1), round(max(loads), 1)] if loads else []
    if len(steady) < 3:
        result["error"] = "too short: fewer than 3 samples after the warm-up"
        return result
    xs = [float(s["learned"]) for s in steady]
    result["steady_events"] = int(xs[-1] - xs[0])
    per_100k, spans = {}, {}
    for key in ("redis_used", "redis_keys", "mlflow_db", "mlflow_artifacts", "logs", "redis_dir",
                "kafka_dir", "prometheus_dir"):  # fmt: skip
        ys = [float(s[key]) for s in steady]
        per_100k[key] = round(slope(xs, ys) * 1e5)
        spans[key] = [int(min(ys)), int(max(ys))]
    result["growth_per_100k_events_bytes"] = per_100k
    result["steady_min_max"] = spans
    result["redis_used_mb"] = [
        round(steady[0]["redis_used"] / MB, 1),
        round(steady[-1]["redis_used"] / MB, 1),
    ]
    rss: dict[str, Any] = {}
    for name, ys, peak in resident(steady):
        mean = sum(ys) / len(ys)
        change = slope(xs, ys) * (xs[-1] - xs[0])
        mean = mean or 1.0
        rss[name] = {
            "mean_mb": round(mean / MB, 1),
            "fitted_change_pct": round(100 * change / mean, 1),
            "range_pct": round(100 * (max(ys) - min(ys)) / mean, 1),
            "growth_per_100k_mb": round(slope(xs, ys) * 1e5 / MB, 2),
            "peak_group_mb": round(peak / MB, 1),
        }
    result["rss"] = rss
    result["timeline"] = [
        {"t": s["t"], "learned": s["learned"], "redis_used": s["redis_used"], "load": s["load"],
         "rss_mb": {n: round(sum(r for g, r in s["procs"].values() if g == pid) / MB, 1)
                    for n, pid in s["groups"].items()}}
        for s in samples
    ]  # fmt: skip
    registry_end = last["registry"]
    result["registry"] = registry_end
    result["versions_registered"] = {d: r["newest"] for d, r in registry_end.items()}
    result["targets"] = {
        "redis_growth_under_1mb_per_100k": per_100k["redis_used"] < MB,
        "rss_flat_within_10pct": all(abs(r["fitted_change_pct"]) <= 10 for r in rss.values()),
        "versions_le_keep_plus_aliases": all(
            r["versions"] <= keep + r["holding"] for r in registry_end.values()
        ),
    }
    return result


def resident(steady: list[dict[str, Any]]) -> list[tuple[str, list[float], int]]:
    """Per component: the RSS series of its processes alive through the whole steady window,
    and the peak of its whole group. Short-lived children (Redis's AOF-rewrite fork, an
    ``mlflow gc`` run) count in the peak, which is what a memory limit must hold, not in the
    series, which must be flat; a restarted component's new processes count from its restart."""
    out = []
    for name in steady[-1]["groups"]:
        pids: set[str] | None = None
        for s in steady:
            group = s["groups"].get(name)
            mine = {pid for pid, (pgrp, _) in s["procs"].items() if pgrp == group}
            pids = mine if pids is None else pids & mine
        lasting = pids or set()
        series = [float(sum(s["procs"][p][1] for p in lasting)) for s in steady]
        peak = max(
            sum(rss for pgrp, rss in s["procs"].values() if pgrp == s["groups"].get(name))
            for s in steady
        )
        out.append((name, series, peak))
    return out


def table(soak: dict[str, Any]) -> str:
    if "error" in soak:
        return f"soak: {soak['error']}"
    growth = soak["growth_per_100k_events_bytes"]
    lines = [f"soak: {soak['events_learned']:,} events in {soak['duration_s']:.0f} s "
             f"({soak['steady_events']:,} after the warm-up), load {soak['load_avg']}",
             "| per 100k events | growth |", "|---|---:|"]  # fmt: skip
    lines += [f"| {k} | {v:,} |" if k == "redis_keys" else f"| {k} | {v / 1024:,.1f} KiB |"
              for k, v in growth.items()]  # fmt: skip
    lines += ["", "| process | mean RSS MiB | fitted change | range | group peak MiB |",
              "|---|---:|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {n} | {r['mean_mb']} | {r['fitted_change_pct']} % | {r['range_pct']} % "
              f"| {r['peak_group_mb']} |" for n, r in sorted(soak["rss"].items())]  # fmt: skip
    lines += ["", f"registry: {soak['registry']}", f"targets: {soak['targets']}"]
    return "\n".join(lines)
