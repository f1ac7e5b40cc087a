"""Destination resolution and delivery plans (Kafka-broker merge rules, source/ping defaults)."""

from __future__ import annotations

from pathlib import Path

import pytest

from coelho.eventing import model as m
from coelho.eventing.errors import ResolutionError
from coelho.eventing.manifests import load
from coelho.eventing.resolve import (
    BrokerKey,
    Resolver,
    ping_plan,
    source_plan,
    trigger_plan,
)

REPO = Path(__file__).resolve().parents[2]
SERVICES = {
    "learn-tfd": "http://127.0.0.1:8101",
    "dead-letters": "http://127.0.0.1:8199",
    "ml/special": "http://127.0.0.1:8200/base/",
}
RESOLVER = Resolver(SERVICES, {BrokerKey("coelho", "coelho")})
DLS = m.Destination(ref=m.KReference("serving.knative.dev/v1", "Service", "dead-letters", "coelho"))
SUBSCRIBER = m.Destination(
    ref=m.KReference("serving.knative.dev/v1", "Service", "learn-tfd", "coelho")
)


def meta(kind: str, name: str = "x") -> m.Meta:
    return m.Meta(kind=kind, name=name, namespace="coelho", file="t.yaml")


def broker(delivery: m.DeliverySpec | None, cls: str = "Kafka") -> m.Broker:
    return m.Broker(meta("Broker", "coelho"), broker_class=cls, delivery=delivery)


def trigger(delivery: m.DeliverySpec | None) -> m.Trigger:
    return m.Trigger(
        meta("Trigger", "learn-tfd"), "coelho", "coelho", SUBSCRIBER, delivery=delivery
    )


def ref(
    kind: str, name: str, api: str = "serving.knative.dev/v1", ns: str = "coelho"
) -> m.KReference:
    return m.KReference(api, kind, name, ns)


def test_service_refs_resolve_through_the_services_map() -> None:
    assert RESOLVER.target(SUBSCRIBER, "w") == "http://127.0.0.1:8101"
    special = m.Destination(ref=ref("Service", "special", ns="ml"))
    assert RESOLVER.url(special, "w") == "http://127.0.0.1:8200/base/"  # namespace/name first
    with_path = m.Destination(ref=SUBSCRIBER.ref, uri="/hooks/learn")
    assert RESOLVER.url(with_path, "w") == "http://127.0.0.1:8101/hooks/learn"
    relative = m.Destination(ref=special.ref, uri="v1")
    assert RESOLVER.url(relative, "w") == "http://127.0.0.1:8200/base/v1"
    assert RESOLVER.url(m.Destination(uri="http://10.0.0.1/x"), "w") == "http://10.0.0.1/x"


def test_a_broker_ref_means_the_in_process_broker() -> None:
    dest = m.Destination(ref=ref("Broker", "coelho", api="eventing.knative.dev/v1"))
    assert RESOLVER.target(dest, "w") == BrokerKey("coelho", "coelho")
    with pytest.raises(ResolutionError, match="must resolve to a URL"):
        RESOLVER.url(dest, "w")


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        (
            m.Destination(ref=ref("Service", "nope")),
            "w: ref to Service 'nope' which is not in the services map",
        ),
        (
            m.Destination(ref=ref("Broker", "other", api="eventing.knative.dev/v1")),
            "w: ref to Broker coelho/other which is not among the manifests",
        ),
        (
            m.Destination(ref=ref("Service", "learn-tfd", api="v1")),
            "w: ref to v1 Service is unsupported",
        ),
        (
            m.Destination(ref=ref("InMemoryChannel", "c", api="messaging.knative.dev/v1")),
            "unsupported",
        ),
        (m.Destination(ref=SUBSCRIBER.ref, uri="http://elsewhere/"), "must be relative"),
    ],
)
def test_unresolvable_destinations_fail_loudly(dest: m.Destination, message: str) -> None:
    with pytest.raises(ResolutionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RESOLVER.target(dest, "w")


def test_no_delivery_anywhere_means_one_attempt_and_no_dead_letter_sink() -> None:
    plan = trigger_plan(RESOLVER, broker(None), trigger(None))
    assert (plan.retry, plan.dead_letter_url, plan.timeout) == (0, None, 600.0)
    assert plan.expects_reply and not plan.structured


def test_a_delivery_with_only_backoff_fields_is_no_egress_config() -> None:
    spec = m.DeliverySpec(backoff_policy="linear", backoff_delay=5.0)
    assert trigger_plan(RESOLVER, broker(None), trigger(spec)).retry == 0


def test_kafka_broker_merges_trigger_over_broker_field_by_field() -> None:
    broker_spec = m.DeliverySpec(
        retry=2, backoff_policy="linear", backoff_delay=0.5, timeout=10.0, dead_letter_sink=DLS
    )
    plan = trigger_plan(RESOLVER, broker(broker_spec), trigger(m.DeliverySpec(retry=5)))
    assert plan.retry == 5 and plan.dead_letter_url == "http://127.0.0.1:8199"
    assert plan.timeout == 10.0
    # the Trigger's egress decides the policy; its delay defaults to 1 s when retry is set
    assert (plan.backoff_policy, plan.backoff_delay) == ("exponential", 1.0)
    only_dls = trigger_plan(
        RESOLVER, broker(broker_spec), trigger(m.DeliverySpec(dead_letter_sink=DLS))
    )
    assert (only_dls.retry, only_dls.backoff_policy, only_dls.backoff_delay) == (
        2,
        "exponential",
        0.5,
    )
    zero = trigger_plan(RESOLVER, broker(broker_spec), trigger(m.DeliverySpec(retry=0)))
    assert zero.retry == 2  # 0 means "unset" in the merged protobuf, as in Knative
    inherited = trigger_plan(RESOLVER, broker(broker_spec), trigger(None))
    assert (inherited.retry, inherited.backoff_policy, inherited.backoff_delay) == (
        2,
        "linear",
        0.5,
    )


def test_mt_broker_trigger_delivery_replaces_the_brokers() -> None:
    broker_spec = m.DeliverySpec(retry=2, dead_letter_sink=DLS)
    mt = broker(broker_spec, cls=m.MT_BROKER_CLASS)
    replaced = trigger_plan(RESOLVER, mt, trigger(m.DeliverySpec(timeout=3.0)))
    assert (replaced.retry, replaced.dead_letter_url, replaced.timeout) == (0, None, 3.0)
    assert replaced.invalid_reply_retryable
    assert trigger_plan(RESOLVER, mt, trigger(None)).retry == 2


def test_format_json_means_structured_mode() -> None:
    assert trigger_plan(RESOLVER, broker(None), trigger(m.DeliverySpec(format="json"))).structured
    assert trigger_plan(RESOLVER, broker(m.DeliverySpec(format="json")), trigger(None)).structured


def test_kafkasource_sink_plans() -> None:
    source = m.KafkaSource(meta("KafkaSource"), ("k:9092",), ("t",), "g", SUBSCRIBER)
    default = source_plan(RESOLVER, source, "http://127.0.0.1:1/")
    assert (default.retry, default.backoff_policy, default.backoff_delay, default.timeout) == (
        10,
        "exponential",
        0.3,
        600.0,
    )
    assert not default.expects_reply
    given = m.KafkaSource(
        meta("KafkaSource"), ("k:9092",), ("t",), "g", SUBSCRIBER, delivery=m.DeliverySpec(retry=3)
    )
    verbatim = source_plan(RESOLVER, given, "http://127.0.0.1:1/")
    assert (verbatim.retry, verbatim.timeout) == (3, 600.0)
    ping = ping_plan("http://127.0.0.1:1/")
    assert (ping.retry, ping.backoff_delay, ping.expects_reply) == (5, 0.05, False)


def test_the_real_manifests_resolve() -> None:
    manifests = load(REPO / "eventing", "coelho")
    services = {
        t.subscriber.ref.name: f"http://127.0.0.1:{9000 + i}"
        for i, t in enumerate(manifests.triggers)
        if t.subscriber.ref
    }
    resolver = Resolver(
        {**services, "dead-letters": "http://127.0.0.1:8999"},
        {BrokerKey(b.meta.namespace, b.meta.name) for b in manifests.brokers},
    )
    the_broker = manifests.brokers[0]
    learn = next(t for t in manifests.triggers if t.meta.name == "learn-tfd")
    plan = trigger_plan(resolver, the_broker, learn)
    # A 503 (Redis refused the append) is retried for about 10 minutes.
    assert (plan.retry, plan.backoff_policy, plan.backoff_delay, plan.timeout) == (
        10,
        "exponential",
        0.3,
        10.0,
    )
    assert plan.dead_letter_url == "http://127.0.0.1:8999"
