"""Model choice per domain: prequential quality and cost of every registered pipeline.

Same seeded events for every pipeline of a domain; reported: the domain's headline metric
(and a second one) after all events, learned events/s in process, checkpoint size. This is
the table the README's "Choosing the default model" section quotes.
"""

from __future__ import annotations

import itertools
import sys
import time
from datetime import UTC, datetime
from typing import Any

from coelho.domains import REGISTRY
from coelho.learning import OnlineModel
from coelho.state.checkpoint import dumps

START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
SECOND_METRIC = {"tfd": "FBeta", "eta": "R2", "ecci": "n_clusters"}


def compare(n: int) -> dict[str, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for key, domain in REGISTRY.items():
        events = list(itertools.islice(domain.produce(seed=7, start=START), n))
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
                "default": name == domain.default_model,
            }
            results[key][name] = row
            print(f"  {key}/{name}: {row}", file=sys.stderr, flush=True)
    return results


def table(results: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = [
        "| domain | model | quality | learn ev/s | state | default |",
        "|---|---|---|---|---|---|",
    ]
    for key, models in results.items():
        for name, row in models.items():
            quality = ", ".join(
                f"{k} {v}" for k, v in row.items()
                if k not in ("events", "learn_eps", "state_bytes", "default")
            )  # fmt: skip
            lines.append(
                f"| {key} | {name} | {quality} | {row['learn_eps']:,} | "
                f"{row['state_bytes'] / 1024:,.0f} KiB | {'yes' if row['default'] else ''} |"
            )
    return "\n".join(lines)
