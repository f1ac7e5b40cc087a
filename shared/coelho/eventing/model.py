"""Typed, validated view of the eventing manifests (what ``manifests.load`` returns).

Defaults are already applied: every object has a namespace, every KafkaSource an initial
offset, ordering and consumer group. Durations are seconds (float).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

KAFKA_EVENT_TYPE = "dev.knative.kafka.event"
PING_EVENT_TYPE = "dev.knative.sources.ping"
BROKER_CLASS_ANNOTATION = "eventing.knative.dev/broker.class"
DELIVERY_ORDER_ANNOTATION = "kafka.eventing.knative.dev/delivery.order"
KEY_TYPE_LABEL = "kafkasources.sources.knative.dev/key-type"
KAFKA_BROKER_CLASSES = frozenset({"Kafka", "KafkaNamespaced"})
JOB_SINK_API = "sinks.knative.dev/v1alpha1"
MT_BROKER_CLASS = "MTChannelBasedBroker"


@dataclass(frozen=True)
class Meta:
    """Identity of one object plus where it was read from (for error messages)."""

    kind: str
    name: str
    namespace: str
    file: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.file}: {self.kind} {self.name}"


@dataclass(frozen=True)
class KReference:
    api_version: str
    kind: str
    name: str
    namespace: str


@dataclass(frozen=True)
class Destination:
    """A Knative ``duckv1.Destination``: a ``ref``, a ``uri``, or a ref plus a relative uri."""

    ref: KReference | None = None
    uri: str | None = None


@dataclass(frozen=True)
class DeliverySpec:
    """``duckv1.DeliverySpec`` as written; ``None`` means the field was absent."""

    retry: int | None = None
    backoff_policy: str | None = None
    backoff_delay: float | None = None
    timeout: float | None = None
    dead_letter_sink: Destination | None = None
    format: str | None = None


# Trigger filter expressions (CloudEvents Subscriptions API dialects, minus CESQL).
@dataclass(frozen=True)
class Exact:
    attribute: str
    value: str


@dataclass(frozen=True)
class Prefix:
    attribute: str
    value: str


@dataclass(frozen=True)
class Suffix:
    attribute: str
    value: str


@dataclass(frozen=True)
class All:
    filters: tuple[FilterExpr, ...]


@dataclass(frozen=True)
class AnyOf:
    filters: tuple[FilterExpr, ...]


@dataclass(frozen=True)
class Not:
    filter: FilterExpr


FilterExpr = Exact | Prefix | Suffix | All | AnyOf | Not


@dataclass(frozen=True)
class KafkaSource:
    meta: Meta
    bootstrap_servers: tuple[str, ...]
    topics: tuple[str, ...]
    consumer_group: str
    sink: Destination
    consumers: int = 1
    initial_offset: str = "latest"
    ordering: str = "ordered"
    ce_overrides: Mapping[str, str] = field(default_factory=dict)
    delivery: DeliverySpec | None = None
    key_type: str = "string"


@dataclass(frozen=True)
class Broker:
    meta: Meta
    broker_class: str = MT_BROKER_CLASS
    config: KReference | None = None
    delivery: DeliverySpec | None = None

    @property
    def is_kafka(self) -> bool:
        return self.broker_class in KAFKA_BROKER_CLASSES


@dataclass(frozen=True)
class Trigger:
    """``filters`` (non-empty) wins over ``attributes``, as in Knative."""

    meta: Meta
    broker: str
    broker_namespace: str
    subscriber: Destination
    attributes: Mapping[str, str] = field(default_factory=dict)
    filters: tuple[FilterExpr, ...] = ()
    delivery: DeliverySpec | None = None
    ordered: bool = False


@dataclass(frozen=True)
class PingSource:
    meta: Meta
    sink: Destination
    schedule: str = "* * * * *"
    timezone: str | None = None
    data: bytes | None = None
    content_type: str | None = None
    ce_overrides: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobSink:
    """``sinks.knative.dev/v1alpha1`` JobSink: one Job per event (source, id), the event mounted
    as a file. What the emulator honours of the Job; the local command is given at start."""

    meta: Meta
    container: str
    backoff_limit: int = 6  # Kubernetes' default
    active_deadline: float | None = None
    termination_grace: float = 30.0


@dataclass(frozen=True)
class Manifests:
    brokers: tuple[Broker, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    kafka_sources: tuple[KafkaSource, ...] = ()
    ping_sources: tuple[PingSource, ...] = ()
    job_sinks: tuple[JobSink, ...] = ()
