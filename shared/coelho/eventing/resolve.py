"""Resolve Destinations to local targets and DeliverySpecs to delivery plans.

A ``ref`` to a Knative Service (``serving.knative.dev/v1``) resolves through the services map
given at start (``{name or namespace/name: base URL}``); a ``uri`` is used as is, or, when
relative, appended to the ref's URL; a ref to a Broker of the manifests means "deliver into the
in-process broker"; a ref to a JobSink of the manifests resolves to the emulator's own job-sink
endpoint (coelho.eventing.jobsink). Anything else fails loudly at start.

Egress configs follow the Kafka control plane: a DeliverySpec yields an egress config only if it
sets ``deadLetterSink``, ``retry`` or ``timeout``; backoff defaults to exponential and 1 s; a
Trigger's config merges field-wise over its Broker's (Trigger first, zero = unset, the backoff
policy always the Trigger's). MTChannelBasedBroker Triggers instead replace the Broker's delivery.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin

from coelho.eventing import model as m
from coelho.eventing.delivery import DEFAULT_TIMEOUT, DeliveryPlan
from coelho.eventing.errors import ResolutionError

DEFAULT_BACKOFF_DELAY = 1.0  # Kafka controller DEFAULT_BACKOFF_DELAY_MS
SOURCE_DEFAULT = m.DeliverySpec(
    retry=10, backoff_policy="exponential", backoff_delay=0.3, timeout=600.0
)  # what the Kafka controller applies to a KafkaSource without spec.delivery


@dataclass(frozen=True)
class BrokerKey:
    namespace: str
    name: str


Target = str | BrokerKey


@dataclass(frozen=True)
class Egress:
    """Kafka ``contract.EgressConfig``: 0 / "" mean unset, as in the protobuf."""

    dead_letter: str = ""
    retry: int = 0
    backoff_policy: str = "exponential"
    backoff_delay: float = 0.0
    timeout: float = 0.0


class Resolver:
    def __init__(
        self,
        services: Mapping[str, str],
        brokers: set[BrokerKey],
        job_sinks: Mapping[BrokerKey, str] | None = None,
    ) -> None:
        self.services = dict(services)
        self.brokers = brokers
        self.job_sinks = dict(job_sinks or {})

    def target(self, dest: m.Destination, where: str) -> Target:
        """A URL, or the BrokerKey of an in-process broker."""
        if dest.ref is None:
            return dest.uri or ""
        ref = dest.ref
        if ref.api_version == "eventing.knative.dev/v1" and ref.kind == "Broker":
            key = BrokerKey(ref.namespace, ref.name)
            if key not in self.brokers:
                raise ResolutionError(
                    f"{where}: ref to Broker {ref.namespace}/{ref.name} which "
                    "is not among the manifests"
                )
            if dest.uri:
                raise ResolutionError(f"{where}: uri next to a Broker ref is unsupported")
            return key
        if ref.api_version == m.JOB_SINK_API and ref.kind == "JobSink":
            url = self.job_sinks.get(BrokerKey(ref.namespace, ref.name))
            if url is None:
                raise ResolutionError(
                    f"{where}: ref to JobSink {ref.namespace}/{ref.name} which is not among "
                    "the manifests"
                )
            if dest.uri:
                raise ResolutionError(f"{where}: uri next to a JobSink ref is unsupported")
            return url
        if ref.api_version == "serving.knative.dev/v1" and ref.kind == "Service":
            base = self.services.get(f"{ref.namespace}/{ref.name}") or self.services.get(ref.name)
            if base is None:
                known = ", ".join(sorted(self.services)) or "none"
                raise ResolutionError(
                    f"{where}: ref to Service {ref.name!r} which is not in the "
                    f"services map (known: {known})"
                )
            if not dest.uri:
                return base
            if "://" in dest.uri:
                raise ResolutionError(f"{where}: uri {dest.uri!r} must be relative next to a ref")
            return urljoin(base if base.endswith("/") else base + "/", dest.uri.lstrip("/"))
        raise ResolutionError(
            f"{where}: ref to {ref.api_version} {ref.kind} is unsupported "
            "(only serving.knative.dev/v1 Service, eventing.knative.dev/v1 Broker and "
            f"{m.JOB_SINK_API} JobSink)"
        )

    def url(self, dest: m.Destination, where: str) -> str:
        target = self.target(dest, where)
        if isinstance(target, BrokerKey):
            raise ResolutionError(f"{where}: must resolve to a URL, not to Broker {target.name}")
        return target

    def egress(self, spec: m.DeliverySpec | None, where: str) -> Egress | None:
        if spec is None or (
            spec.dead_letter_sink is None and spec.retry is None and spec.timeout is None
        ):
            return None
        retry_set = spec.retry is not None
        return Egress(
            dead_letter=self.url(spec.dead_letter_sink, f"{where}.deadLetterSink")
            if spec.dead_letter_sink
            else "",
            retry=spec.retry or 0,
            backoff_policy=(spec.backoff_policy or "exponential") if retry_set else "exponential",
            backoff_delay=(
                spec.backoff_delay if spec.backoff_delay is not None else DEFAULT_BACKOFF_DELAY
            )
            if retry_set
            else 0.0,
            timeout=spec.timeout or 0.0,
        )


def merge(first: Egress | None, second: Egress | None) -> Egress | None:
    """Kafka ``MergeEgressConfig``: ``first`` wins field-wise; its backoff policy always wins."""
    if first is None:
        return second
    if second is None:
        return first
    return Egress(
        dead_letter=first.dead_letter or second.dead_letter,
        retry=first.retry or second.retry,
        backoff_policy=first.backoff_policy,
        backoff_delay=first.backoff_delay or second.backoff_delay,
        timeout=first.timeout or second.timeout,
    )


def plan_from(
    url: str,
    egress: Egress | None,
    *,
    structured: bool,
    expects_reply: bool,
    invalid_reply_retryable: bool = False,
) -> DeliveryPlan:
    egress = egress or Egress()
    return DeliveryPlan(
        url=url,
        retry=egress.retry,
        backoff_policy=egress.backoff_policy,
        backoff_delay=egress.backoff_delay or DEFAULT_BACKOFF_DELAY,
        timeout=egress.timeout or DEFAULT_TIMEOUT,
        dead_letter_url=egress.dead_letter or None,
        structured=structured,
        expects_reply=expects_reply,
        invalid_reply_retryable=invalid_reply_retryable,
    )


def trigger_plan(resolver: Resolver, broker: m.Broker, trigger: m.Trigger) -> DeliveryPlan:
    where = trigger.meta.where
    url = resolver.url(trigger.subscriber, f"{where}: spec.subscriber")
    trigger_egress = resolver.egress(trigger.delivery, f"{where}: spec.delivery")
    broker_egress = resolver.egress(broker.delivery, f"{broker.meta.where}: spec.delivery")
    if broker.is_kafka:
        egress = merge(trigger_egress, broker_egress)
    else:
        egress = trigger_egress if trigger.delivery is not None else broker_egress
    fmt = (trigger.delivery and trigger.delivery.format) or (
        broker.delivery and broker.delivery.format
    )
    return plan_from(
        url,
        egress,
        structured=fmt == "json",
        expects_reply=True,
        invalid_reply_retryable=not broker.is_kafka,
    )


def source_plan(resolver: Resolver, source: m.KafkaSource, url: str) -> DeliveryPlan:
    """A KafkaSource posting straight to a URL sink: replies are ignored (NoReply)."""
    spec = source.delivery if source.delivery is not None else SOURCE_DEFAULT
    egress = resolver.egress(spec, f"{source.meta.where}: spec.delivery")
    return plan_from(url, egress, structured=spec.format == "json", expects_reply=False)


def ping_plan(url: str) -> DeliveryPlan:
    """The mtping adapter's client: 5 exponential retries from 50 ms; the reply is ignored."""
    return DeliveryPlan(
        url=url,
        retry=5,
        backoff_policy="exponential",
        backoff_delay=0.05,
        timeout=60.0,
        expects_reply=False,
    )
