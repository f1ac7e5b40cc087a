"""Model choice per domain: prequential quality and cost of every registered pipeline.

Same seeded events for every pipeline of a domain; reported: the domain's headline metric
(and a second one) after all events, learned events/s in process, checkpoint size. This is
the table the README's "Choosing the default model" section quotes. ``replica_us`` is what a predict
replica pays to apply one log entry (median thread CPU time of ``learn(score=False)`` on the
model as a replica loads it, over the next ``REPLICA_EVENTS`` events): the figure its
``COELHO_PREDICT_FOLLOW_MAX_US`` limit (250 us) is compared with (coelho.replica).
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from datetime import UTC, datetime
from typing import Any

from coelho.domains import REGISTRY
from coelho.learning import OnlineModel
from coelho.lightload import loads_for_serving
from coelho.state.checkpoint import dumps, sign

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


def compare(n: int) -> dict[str, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for key, domain in REGISTRY.items():
        stream = domain.produce(seed=7, start=START)
        events = list(itertools.islice(stream, n))
        tail = list(itertools.islice(stream, REPLICA_EVENTS))
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
            }
            results[key][name] = row
            print(f"  {key}/{name}: {row}", file=sys.stderr, flush=True)
    return results


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| domain | model | quality | learn ev/s | replica µs/event | state | default |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, models in results.items():
        for name, row in models.items():
            quality = ", ".join(
                f"{k} {v}" for k, v in row.items()
                if k not in ("events", "learn_eps", "state_bytes", "default", "replica_us")
            )  # fmt: skip
            lines.append(
                f"| {key} | {name} | {quality} | {row['learn_eps']:,} | {row['replica_us']:,} | "
                f"{row['state_bytes'] / 1024:,.0f} KiB | {'yes' if row['default'] else ''} |"
            )
    return "\n".join(lines)
