"""Model choice per domain: prequential quality and cost of every registered pipeline.

Two kinds of stream per domain, the same for every pipeline of the domain:

- **seeded**: ``COELHO_BENCH_MODEL_EVENTS`` (5,000) events of the seeded generator from a
  Monday 07:00 synthetic clock (minutes of event time, the producers' own pace);
- **stress**: ``tests.stress.stress_stream`` (four weeks of event time in shuffled blocks, the
  calm regime first, bursts, drift and extremes), learned in its adversarial order and, as the
  reference, in a uniformly shuffled order. Reported: the headline metric in both orders, and
  whether the guard ever saw a divergence.

Reported per pipeline: the domain's headline metric (and a second one) after the seeded
stream, learned events/s in process, checkpoint size, and the stress columns. This is the
table the README's "Domains and the default model" section quotes. ``replica_us`` is what a
predict replica pays to apply one log entry (median thread CPU time of ``learn(score=False)`` on
the model as a replica loads it, over the next ``REPLICA_EVENTS`` events): the figure its
``COELHO_PREDICT_FOLLOW_MAX_US`` limit (250 us) is compared with (coelho.replica).
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from coelho.domains import REGISTRY
from coelho.learning import OnlineModel
from coelho.lightload import loads_for_serving
from coelho.state.checkpoint import dumps, sign
from tests.stress import CLUSTER_EVERY, learn, stress_stream

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SECOND_METRIC = {"tfd": "FBeta", "eta": "R2", "ecci": "n_clusters"}
REPLICA_EVENTS = 300


def replica_cost_us(model: OnlineModel, events: list[dict[str, Any]]) -> float:
    """Median thread CPU time (us) of one ``learn(score=False)`` on a replica's copy."""
    blob = dumps(model)
    replica = loads_for_serving(blob, sign(blob, b"bench"), b"bench", "bench")
    costs = []
    for event in events:
        started = time.thread_time_ns()
        replica.learn(event, None, score=False)
        costs.append(time.thread_time_ns() - started)
    return statistics.median(costs) / 1000


def compare(n: int, stress_n: int | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    stress_n = stress_n or int(os.environ.get("COELHO_BENCH_STRESS_EVENTS", "9000"))
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for key, domain in REGISTRY.items():
        stream = domain.produce(seed=7, start=START)
        events = list(itertools.islice(stream, n))
        tail = list(itertools.islice(stream, REPLICA_EVENTS))
        stress = stress_stream(key, stress_n)
        results[key] = {}
        for name in domain.models:
            model = OnlineModel.create(key, name)
            started = time.perf_counter()
            for event in events:
                model.learn(event)
            elapsed = time.perf_counter() - started
            values = model.metric_values()
            row = {
                "events": n,
                domain.headline_metric: round(values.get(domain.headline_metric, float("nan")), 4),
                SECOND_METRIC[key]: round(values.get(SECOND_METRIC[key], float("nan")), 4),
                "learn_eps": round(n / elapsed, 1),
                "state_bytes": len(dumps(model)),
                "replica_us": round(replica_cost_us(model, tail), 1),
                "default": name == domain.default_model,
                **_stress(key, name, stress),
            }
            results[key][name] = row
            print(f"  {key}/{name}: {row}", file=sys.stderr, flush=True)
    return results


def _stress(key: str, name: str, stress: Any) -> dict[str, Any]:
    """Headline metric on the stress order and on the shuffled order, and the guard's totals."""
    headline = REGISTRY[key].headline_metric
    ordered = learn(key, name, stress.events, metrics=True)
    shuffled = learn(key, name, stress.shuffled, metrics=True)
    row: dict[str, Any] = {
        "stress_events": len(stress.events),
        "stress": round(ordered.model.metric_values().get(headline, float("nan")), 4),
        "shuffled": round(shuffled.model.metric_values().get(headline, float("nan")), 4),
        "guard_far_out": ordered.model.health.totals["far_out"]
        + ordered.model.health.totals["non_finite"],
    }
    if ordered.clusters:
        row["min_clusters_after_calm"] = min(ordered.clusters[stress.calm // CLUSTER_EVERY + 1 :])
    return row


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| domain | model | quality (seeded) | stress: order / shuffled | learn ev/s "
        "| replica µs/event | state | default |",
        "|---|---|---|---|---|---|---|---|",
    ]
    skip = ("events", "learn_eps", "state_bytes", "default", "replica_us", "stress_events",
            "stress", "shuffled", "guard_far_out", "min_clusters_after_calm")  # fmt: skip
    for key, models in results.items():
        headline = REGISTRY[key].headline_metric
        for name, row in models.items():
            quality = ", ".join(f"{k} {v}" for k, v in row.items() if k not in skip)
            stress = f"{headline} {row['stress']} / {row['shuffled']}"
            if "min_clusters_after_calm" in row:
                stress += f", ≥ {row['min_clusters_after_calm']} clusters"
            if row["guard_far_out"]:
                stress += f", {row['guard_far_out']} diverged predictions"
            lines.append(
                f"| {key} | {name} | {quality} | {stress} | {row['learn_eps']:,} | "
                f"{row['replica_us']:,} | "
                f"{row['state_bytes'] / 1024:,.0f} KiB | {'yes' if row['default'] else ''} |"
            )
    return "\n".join(lines)
