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
from coelho.domains.reports import no_reports
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
    """A prequential metric and everything a reader needs to understand it, kept once here.

    ``build`` returns a fresh River metric; ``None`` marks a counter the model reports itself
    (``OnlineModel.metric_values``: confusion counts, cluster counts). ``help`` says what the
    value means for this domain; ``formula``, ``low``/``high`` (None: unbounded), ``best`` and
    ``docs`` (River's API page) fill the dashboard's ⓘ dialog; ``group`` places its card and
    ``gauge`` draws it as a gauge over ``low..high`` as well. ``higher_is_better`` is None for
    a count, which has no better direction.

    Domains list them through a function because ``river.metrics`` costs about a second to
    import, which the predict functions' cold start should not pay."""

    name: str
    build: Callable[[], Any] | None
    help: str
    higher_is_better: bool | None = True
    title: str = ""
    group: str = ""
    formula: str = ""
    low: float | None = 0.0
    high: float | None = 1.0
    best: float | None = None
    docs: str = ""
    gauge: bool = False

    @property
    def label(self) -> str:
        return self.title or self.name

    @property
    def optimum(self) -> float | None:
        """The best value: ``best``, else the bound the better direction points to."""
        if self.best is not None or self.higher_is_better is None:
            return self.best
        return self.high if self.higher_is_better else self.low


@dataclass(frozen=True)
class GuardSpec:
    """When a live model of the domain counts as unhealthy (``coelho.guard``), as data.

    ``prediction_range`` is the physical range of a prediction (an ETA lasts between 0 s and a
    day; a probability is in [0, 1]). A non-finite prediction, or one beyond the range by more
    than the range's own width, is a divergence at once; predictions slightly outside (a
    linear model may dip below 0 s for a 100 m trip) only count when more than ``tolerance``
    of the recent ones are. ``metric`` names the rolling headline metric compared with the
    champion's: lower-is-better metrics may grow to ``max_ratio`` times the champion's,
    higher-is-better ones may drop by ``max_drop``, once the model learned ``metric_after``
    events (a rolling metric over a window the model has not filled yet says little).
    """

    prediction_range: tuple[float, float] | None = None
    tolerance: float = 0.05
    metric: str | None = None
    max_ratio: float | None = None
    max_drop: float | None = None
    metric_after: int = 1_000


@dataclass(frozen=True)
class GeneratorOption:
    """A knob of the domain's generator, offered by the producer as ``--<name-with-dashes>``.

    The seed's producers took their probabilities on the command line; declaring them here
    keeps the producer generic: it adds one option per entry and passes the value to the
    generator's constructor as the keyword ``name``."""

    name: str
    default: float
    help: str
    minimum: float = 0.0
    maximum: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: float) -> float:
        """``value`` if within bounds, else ``ValueError`` naming the option."""
        high = "" if self.maximum is None else f" and <= {self.maximum}"
        if not (value >= self.minimum and (self.maximum is None or value <= self.maximum)):
            raise ValueError(f"{self.flag} must be >= {self.minimum}{high}, got {value!r}")
        return value


@dataclass(frozen=True)
class ProducerGauge:
    """A gauge the producer exports about what its generator sent (``coelho_producer_<name>``),
    e.g. the fraud share a test compares with ``--fraud-probability``."""

    name: str
    help: str
    read: Callable[[Any], float]


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
    generator: Callable[..., Generator]  # (rng, drift_after, clock, **options)
    seed_rate: float
    summary: str = ""
    # The lakehouse (coelho.lakehouse): the Delta table the domain's events are archived to,
    # and the SQL page's templates, (label, query) over that table registered as ``data``.
    table: str = ""
    sql_templates: tuple[tuple[str, str], ...] = ()
    guard: GuardSpec = field(default_factory=GuardSpec)
    # The producer's command-line knobs and per-domain gauges (coelho.producer).
    generator_options: tuple[GeneratorOption, ...] = ()
    producer_gauges: tuple[ProducerGauge, ...] = ()
    # Readable JSON reports of a model's state each snapshot run carries, ``{name: JSON-able}``
    # from the domain's ``OnlineModel`` (coelho.domains.reports).
    reports: Callable[[Any], dict[str, Any]] = no_reports
    # Values the model reports beside its River metrics (MetricSpec with build=None), the
    # names of the target's classes (binary: negative, positive), the point field the event
    # happened at (mapped per cluster) and the form's derived fields (``derive``: a partial
    # request -> values, by dotted field path, of fields computed from others, e.g. a
    # distance from coordinates).
    counters: tuple[MetricSpec, ...] = ()
    class_names: tuple[str, ...] = ()
    location: str = ""
    derive: Callable[[Event], dict[str, Any]] | None = None
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

    def metric_specs(self) -> tuple[MetricSpec, ...]:
        """Every value the model reports: River metrics, then the model's own counters."""
        return (*self.metrics(), *self.counters)

    def event_time(self, event: Event) -> datetime | None:
        """When the event happened, as naive UTC (River's ``utils.TimeRolling`` compares with a
        naive datetime), from the first top-level timestamp field; None when it has none."""
        for spec in self.fields:
            if spec.kind == "timestamp" and isinstance(event.get(spec.name), str):
                moment = datetime.fromisoformat(event[spec.name])
                if moment.tzinfo is not None:
                    moment = moment.astimezone(UTC).replace(tzinfo=None)
                return moment
        return None

    def label(self, event: Event) -> Any:
        return None if self.target is None else event[self.target]

    def model(self, name: str | None = None) -> ModelSpec:
        chosen = name or self.default_model
        if chosen not in self.models:
            raise KeyError(f"{self.key}: no model {chosen!r}; choose one of {sorted(self.models)}")
        return self.models[chosen]

    def generate(
        self,
        seed: int | None = None,
        drift_after: int | None = None,
        start: datetime | None = None,
        time_scale: float | None = None,
        options: Mapping[str, float] | None = None,
    ) -> Generator:
        """A seeded generator. With ``start`` its timestamps come from a synthetic clock that
        advances at the seed rate, so the whole stream is reproducible; without it, from now.
        ``time_scale`` speeds the synthetic clock up: each event moves it ``time_scale`` times
        the seed's mean interval (600: a 0.55 s ETA interval becomes 5.5 minutes), so a
        stream crosses a rush hour or a weekend within minutes (from now without ``start``).
        ``options`` set the domain's ``generator_options`` (unset ones keep the seed's value)."""
        if time_scale is not None and time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        if time_scale is not None and start is None:
            start = datetime.now(UTC)
        clock = _clock(start, self.seed_rate / (time_scale or 1.0))
        return self.generator(random.Random(seed), drift_after, clock, **self.options(options))

    def options(self, given: Mapping[str, float] | None = None) -> dict[str, float]:
        """Checked generator keyword arguments: ``ValueError`` names an unknown or bad one."""
        known = {o.name: o for o in self.generator_options}
        unknown = sorted(set(given or {}) - set(known))
        if unknown:
            raise ValueError(
                f"{self.key}: no generator option {unknown[0]!r}; choose from {sorted(known)}"
            )
        return {name: known[name].check(float(v)) for name, v in (given or {}).items()}

    def produce(
        self,
        seed: int | None = None,
        drift_after: int | None = None,
        start: datetime | None = None,
        time_scale: float | None = None,
    ) -> Iterator[Event]:
        """An endless stream of events; ``drift_after`` switches the distribution mid-stream."""
        gen = self.generate(seed, drift_after, start, time_scale)
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
