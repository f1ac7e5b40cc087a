"""What a domain is: the contract every use case module fills in.

A domain is data plus a few pure functions. Nothing here talks to Kafka, Redis or HTTP, so
producers, functions, pages and tests can all share it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from coelho.domains.batch import BatchSpec
from coelho.domains.schema import FieldSpec, leaf_fields, validate

Task = Literal["binary", "regression", "clustering"]
Event = dict[str, Any]
Features = dict[str, Any]
Clock = Callable[[], datetime]


class Generator(Protocol):
    """A seedable synthetic event source reproducing the seed producer's distributions."""

    def next_event(self) -> Event: ...

    def next_interval(self) -> float:
        """Seconds to wait before the next event at the seed's own rate."""
        ...


class SeededGenerator:
    """Shared state of the domains' generators: the seeded RNG, the clock and the drift switch."""

    def __init__(self, rng: random.Random, drift_after: int | None, clock: Clock) -> None:
        self.rng = rng
        self.drift_after = drift_after
        self.clock = clock
        self.count = 0

    def _advance(self) -> bool:
        """Count one event; True once the stream has drifted."""
        drifted = self.drift_after is not None and self.count >= self.drift_after
        self.count += 1
        return drifted


@dataclass(frozen=True)
class ModelSpec:
    """One choice of River pipeline for a domain; ``build`` returns a fresh, unfitted one."""

    name: str
    summary: str
    build: Callable[[], Any]
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricSpec:
    """A prequential metric: ``build`` returns a fresh River metric; ``help`` explains it.

    Domains list them through a function because ``river.metrics`` costs about a second to
    import, which the predict functions' cold start should not pay."""

    name: str
    build: Callable[[], Any]
    help: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class Domain:
    """A use case: topic, schema, producer, pipelines and prequential metrics."""

    key: str
    title: str
    topic: str
    task: Task
    fields: tuple[FieldSpec, ...]
    event_id: str
    record_key: str
    target: str | None
    features: Callable[[Event], Features]
    models: Mapping[str, ModelSpec]
    default_model: str
    metrics: Callable[[], tuple[MetricSpec, ...]]
    headline_metric: str
    generator: Callable[[random.Random, int | None, Clock], Generator]
    seed_rate: float
    summary: str = ""
    # The lakehouse (coelho.lakehouse): the Delta table the domain's events are archived to,
    # and the SQL page's templates, (label, query) over that table registered as ``data``.
    table: str = ""
    sql_templates: tuple[tuple[str, str], ...] = ()
    # The offline scikit-learn model trained from that table (coelho.batch); None: no batch.
    batch: BatchSpec | None = None

    def __repr__(self) -> str:
        return f"Domain({self.key!r})"

    def validate(self, data: Any) -> Event:
        """A clean copy of ``data`` or ``InvalidEvent`` naming the bad field."""
        return validate(self.fields, data)

    def validate_request(self, data: Any) -> Event:
        """Like ``validate`` but without id, target and debug fields (a predict request)."""
        needed = tuple(f for f in self.fields if f.role in ("feature", "context"))
        return validate(needed, data)

    def label(self, event: Event) -> Any:
        return None if self.target is None else event[self.target]

    def model(self, name: str | None = None) -> ModelSpec:
        chosen = name or self.default_model
        if chosen not in self.models:
            raise KeyError(f"{self.key}: no model {chosen!r}; choose one of {sorted(self.models)}")
        return self.models[chosen]

    def generate(
        self, seed: int | None = None, drift_after: int | None = None, start: datetime | None = None
    ) -> Generator:
        """A seeded generator. With ``start`` its timestamps come from a synthetic clock that
        advances at the seed rate, so the whole stream is reproducible; without it, from now."""
        return self.generator(random.Random(seed), drift_after, _clock(start, self.seed_rate))

    def produce(
        self, seed: int | None = None, drift_after: int | None = None, start: datetime | None = None
    ) -> Iterator[Event]:
        """An endless stream of events; ``drift_after`` switches the distribution mid-stream."""
        gen = self.generate(seed, drift_after, start)
        while True:
            yield gen.next_event()

    def leaf_fields(self) -> list[tuple[str, FieldSpec]]:
        return leaf_fields(self.fields)


def _clock(start: datetime | None, rate: float) -> Clock:
    if start is None:
        return lambda: datetime.now(UTC)
    step = timedelta(seconds=1.0 / rate)
    state = {"now": start}

    def tick() -> datetime:
        now = state["now"]
        state["now"] = now + step
        return now

    return tick
