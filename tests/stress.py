"""Stress streams: four weeks of events in shuffled blocks, independent of any producer's clock.

A producer stamps events with the real clock, so a stack started on a Tuesday morning sees
only weekday, off-peak, mostly clear-weather trips for hours, and then, one day, its first
weekend. ``stress_stream`` builds that situation on purpose, from the domains' own seeded
generators driven by a synthetic clock that spans ``WEEKS`` weeks:

1. a **calm prefix** of ``calm`` events drawn only from the domain's most ordinary regime
   (``CALM``: e.g. weekday off-peak clear-weather trips), so every other regime arrives only
   after thousands of events without it;
2. then the rest of both pools (the normal generator and the drifted one, ``drift_after=0``)
   cut into blocks of consecutive event time and shuffled (timestamps jump back and forth
   across the four weeks), with bursts added as blocks of their own: one block per
   categorical field sorted by that field (a burst of each category), one block of the most
   extreme values of every numeric field (the longest trips, the largest amounts), and for a
   binary target a block at ``BURST_POSITIVE_RATE`` positives (30 % fraud instead of 1 %).

Every event is one the generator produced, so the stream is seed-conformant; only the order is
adversarial. ``Stress.shuffled`` holds the same events in a uniformly random order: the
reference a stable pipeline should stay close to.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from coelho.domains import get
from coelho.domains.base import Event

WEEKS = 4
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday, midnight
BLOCKS = 40
BURST_POSITIVE_RATE = 0.30
EXTREMES_PER_FIELD = 40


def _eta_calm(event: Event) -> bool:
    from coelho.domains.eta import is_rush_hour

    return (
        event["day_of_week"] < 5
        and not is_rush_hour(event["day_of_week"], event["hour_of_day"])
        and event["weather"] in ("Clear", "Clouds")
    )


def _tfd_calm(event: Event) -> bool:
    hour = datetime.fromisoformat(event["timestamp"]).hour
    return (
        not event["is_fraud"]
        and 8 <= hour < 20
        and event["payment_method"] != "crypto"
        and event["product_category"] not in ("gambling", "luxury_items")
    )


def _ecci_calm(event: Event) -> bool:
    return event["event_type"] in ("page_view", "search") and event["session_event_sequence"] < 5


# The most ordinary regime of each domain: what a stack sees for hours after a weekday start.
CALM: dict[str, Callable[[Event], bool]] = {"eta": _eta_calm, "tfd": _tfd_calm,
                                            "ecci": _ecci_calm}  # fmt: skip


@dataclass(frozen=True)
class Stress:
    domain: str
    events: list[Event]  # the adversarial order
    shuffled: list[Event]  # the same events, uniformly shuffled
    calm: int  # length of the calm prefix


def _pool(domain: str, n: int, seed: int, drifted: bool) -> list[Event]:
    """``n`` events whose synthetic clock spans ``WEEKS`` weeks from ``START``."""
    spec = get(domain)
    step = timedelta(weeks=WEEKS) / n
    state = {"now": START}

    def clock() -> datetime:
        now = state["now"]
        state["now"] = now + step
        return now

    generator = spec.generator(random.Random(seed), 0 if drifted else None, clock)
    return [generator.next_event() for _ in range(n)]


def _numeric_fields(domain: str) -> list[str]:
    return [path for path, spec in get(domain).leaf_fields()
            if spec.kind in ("int", "float") and spec.role == "feature"
            and "." not in path]  # fmt: skip


def _categorical_fields(domain: str) -> list[str]:
    return [path for path, spec in get(domain).leaf_fields()
            if spec.choices and spec.role == "feature" and "." not in path]  # fmt: skip


def stress_stream(domain: str, n: int, seed: int = 11, calm: int = 3_000) -> Stress:
    """About ``n`` events of ``domain`` in the adversarial order described above."""
    rng = random.Random(seed)
    normal = _pool(domain, n, seed, drifted=False)
    drifted = _pool(domain, n // 3, seed + 1, drifted=True)
    is_calm = CALM[domain]
    prefix = [e for e in normal if is_calm(e)][:calm]
    taken = {id(e) for e in prefix}
    rest = [e for e in normal if id(e) not in taken]
    size = max(1, (len(rest) + len(drifted)) // BLOCKS)
    blocks = [rest[i : i + size] for i in range(0, len(rest), size)]
    blocks += [drifted[i : i + size] for i in range(0, len(drifted), size)]
    blocks = _bursts(domain, blocks, rng)
    rng.shuffle(blocks)
    events = prefix + [e for block in blocks for e in block]
    shuffled = list(events)
    random.Random(seed + 2).shuffle(shuffled)
    return Stress(domain, events, shuffled, len(prefix))


def _bursts(domain: str, blocks: list[list[Event]], rng: random.Random) -> list[list[Event]]:
    """Re-cut some blocks into bursts (see the module doc); every event stays exactly once."""
    spec = get(domain)
    out = list(blocks)
    for name in _categorical_fields(domain):
        i = rng.randrange(len(out))
        out[i] = sorted(out[i], key=lambda e: str(e[name]))
    everything = [e for block in out for e in block]
    extreme_ids: set[int] = set()
    extremes: list[Event] = []
    half = EXTREMES_PER_FIELD // 2
    for name in _numeric_fields(domain):
        ranked = sorted((e for e in everything if e[name] is not None), key=lambda e: e[name])
        for e in ranked[:half] + ranked[-half:]:
            if id(e) not in extreme_ids:
                extreme_ids.add(id(e))
                extremes.append(e)
    burst: list[Event] = []
    if spec.task == "binary":
        positives = [e for e in everything if spec.label(e) and id(e) not in extreme_ids]
        size = len(out[0])
        chosen = positives[: int(size * BURST_POSITIVE_RATE)]
        chosen_ids = {id(e) for e in chosen}
        negatives = [e for e in everything if not spec.label(e)
                     and id(e) not in extreme_ids][: size - len(chosen)]  # fmt: skip
        burst = chosen + negatives
        rng.shuffle(burst)
        extreme_ids |= chosen_ids | {id(e) for e in negatives}
    out = [[e for e in block if id(e) not in extreme_ids] for block in out]
    out = [block for block in out if block]
    out.append(extremes)
    if burst:
        out.append(burst)
    return out


@dataclass(frozen=True)
class Run:
    """One pipeline learning one order of a stress stream (prequentially)."""

    model: Any
    predictions: list[float]  # raw prediction for each event, made before learning it
    clusters: list[int]  # clustering: number of clusters every ``CLUSTER_EVERY`` events


CLUSTER_EVERY = 500


def learn(domain: str, model_name: str | None, events: list[Event], metrics: bool = False) -> Run:
    """Learn ``events`` in order through ``OnlineModel`` (the writer's code path). Metrics are
    left out unless asked for: the tests compute their rolling windows themselves, and River's
    metrics would triple the time."""
    from coelho.learning import OnlineModel

    if metrics:
        model = OnlineModel.create(domain, model_name)
    else:
        spec = get(domain).model(model_name)
        model = OnlineModel(domain, spec.name, spec.build(), {})
    predictions: list[float] = []
    clusters: list[int] = []
    clustering = get(domain).task == "clustering"
    for i, event in enumerate(events, 1):
        model.learn(event)
        if clustering:
            if i % CLUSTER_EVERY == 0:
                model.pipeline.predict_one(get(domain).features(event))  # re-cluster
                clusters.append(int(model._clusterer().n_clusters))
        else:
            predictions.append(model.last_prediction)
    return Run(model, predictions, clusters)


def paired(stress: Stress, shuffled: list[float]) -> tuple[list[int], list[float]]:
    """Align the shuffled run's predictions with the stress order.

    Returns the positions (in stress order) where both runs had already learned at least
    ``stress.calm`` events, and the shuffled run's prediction for each stress event."""
    where = {id(e): i for i, e in enumerate(stress.shuffled)}
    aligned = [shuffled[where[id(e)]] for e in stress.events]
    keep = [i for i, e in enumerate(stress.events)
            if i >= stress.calm and where[id(e)] >= stress.calm]  # fmt: skip
    return keep, aligned


def rolling(values: list[float], window: int) -> list[float]:
    """Means of every ``window`` consecutive values (River's ``utils.Rolling`` of a mean)."""
    total = sum(values[:window])
    out = [total / window]
    for i in range(window, len(values)):
        total += values[i] - values[i - window]
        out.append(total / window)
    return out
