"""Manifest loading: the real eventing/ dir loads, and every bad field fails naming file + path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from coelho.eventing import model as m
from coelho.eventing.errors import ManifestError
from coelho.eventing.manifests import load

REPO = Path(__file__).resolve().parents[2]
SERVICE_REF = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "svc"}
BROKER = {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "b"}}
TRIGGER = {
    "apiVersion": "eventing.knative.dev/v1",
    "kind": "Trigger",
    "metadata": {"name": "t"},
    "spec": {"broker": "b", "subscriber": {"ref": dict(SERVICE_REF)}},
}
SOURCE = {
    "apiVersion": "sources.knative.dev/v1",
    "kind": "KafkaSource",
    "metadata": {"name": "k"},
    "spec": {
        "bootstrapServers": ["kafka:9092"],
        "topics": ["events"],
        "sink": {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b"}},
    },
}
PING = {
    "apiVersion": "sources.knative.dev/v1",
    "kind": "PingSource",
    "metadata": {"name": "p"},
    "spec": {"sink": {"uri": "http://127.0.0.1:9/ping"}},
}
BASE = {"Broker": BROKER, "Trigger": TRIGGER, "KafkaSource": SOURCE, "PingSource": PING}
NAMES = {"Broker": "b", "Trigger": "t", "KafkaSource": "k", "PingSource": "p"}


def write(tmp_path: Path, *docs: Any, name: str = "m.yaml") -> Path:
    (tmp_path / name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return tmp_path / name


def variant(kind: str, edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    doc = copy.deepcopy(BASE[kind])
    edit(doc)
    return doc


def spec(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["spec"].__setitem__(key, value)


def meta(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["metadata"].__setitem__(key, value)


def test_the_real_eventing_dir_loads_with_its_values() -> None:
    manifests = load(REPO / "eventing", "coelho")
    broker = next(b for b in manifests.brokers if b.meta.name == "coelho")
    assert broker.broker_class == "Kafka" and broker.is_kafka
    assert broker.delivery is not None and broker.delivery.backoff_delay == pytest.approx(0.2)
    triggers = {t.meta.name: t for t in manifests.triggers}
    sources = {s.meta.name: s for s in manifests.kafka_sources}
    for domain in ("tfd", "eta", "ecci"):
        trigger = triggers[f"learn-{domain}"]
        assert trigger.ordered and trigger.broker == "coelho"
        assert trigger.filters == (
            m.Exact("type", m.KAFKA_EVENT_TYPE),
            m.Exact("domain", domain),
        )
        assert trigger.subscriber.ref is not None
        assert trigger.subscriber.ref.name == f"learn-{domain}"
        source = sources[domain]
        assert source.initial_offset == "earliest" and source.ordering == "ordered"
        assert source.ce_overrides == {"domain": domain}
        assert source.consumer_group == f"coelho-{domain}"
        assert source.meta.namespace == "coelho"


def test_defaults_are_knatives(tmp_path: Path) -> None:
    data = "eyJhIjogMX0="  # base64 of {"a": 1}
    write(tmp_path, BROKER, SOURCE, TRIGGER, variant("PingSource", spec("dataBase64", data)))
    manifests = load(tmp_path)
    source, trigger = manifests.kafka_sources[0], manifests.triggers[0]
    assert (source.initial_offset, source.ordering, source.consumers) == ("latest", "ordered", 1)
    assert source.meta.namespace == "default" and source.key_type == "string"
    assert source.consumer_group.startswith("knative-kafka-source-")
    assert load(tmp_path).kafka_sources[0].consumer_group == source.consumer_group  # stable
    assert not trigger.ordered and trigger.delivery is None
    assert manifests.brokers[0].broker_class == m.MT_BROKER_CLASS
    assert manifests.ping_sources[0].schedule == "* * * * *"
    assert manifests.ping_sources[0].data == b'{"a": 1}'


def test_filters_and_filter_are_both_kept_and_brokerref_is_accepted(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        del doc["spec"]["broker"]
        doc["spec"]["brokerRef"] = {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "name": "b",
        }
        doc["spec"]["filter"] = {"attributes": {"type": "a", "source": ""}}
        doc["spec"]["filters"] = [{"not": {"all": [{"prefix": {"type": "x"}}]}}]

    write(tmp_path, BROKER, variant("Trigger", edit))
    trigger = load(tmp_path).triggers[0]
    assert trigger.broker == "b"
    assert trigger.attributes == {"type": "a", "source": ""}
    assert trigger.filters == (m.Not(m.All((m.Prefix("type", "x"),))),)


def test_key_type_label_and_namespace_default(tmp_path: Path) -> None:
    source = variant("KafkaSource", meta("labels", {m.KEY_TYPE_LABEL: "int"}))
    write(tmp_path, BROKER, source)
    loaded = load(tmp_path, "ml").kafka_sources[0]
    assert loaded.key_type == "int" and loaded.meta.namespace == "ml"
    assert loaded.sink.ref is not None and loaded.sink.ref.namespace == "ml"


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    # Trigger filters
    (
        "Trigger",
        spec("filters", [{"exact": {"type": "x"}}, {"cesql": "type = 'x'"}]),
        "spec.filters[1].cesql",
        "unsupported",
    ),
    (
        "Trigger",
        spec("filters", [{"exact": {"type": "x"}, "suffix": {"type": "y"}}]),
        "spec.filters[0]",
        "multiple dialects found",
    ),
    (
        "Trigger",
        spec("filters", [{"exact": {"type": "x", "source": "y"}}]),
        "spec.filters[0].exact",
        "only one key-value",
    ),
    (
        "Trigger",
        spec("filters", [{"prefix": {"Type": "x"}}]),
        "spec.filters[0].prefix.Type",
        "invalid attribute name",
    ),
    (
        "Trigger",
        spec("filters", [{"suffix": {"type": ""}}]),
        "spec.filters[0].suffix.type",
        "empty value",
    ),
    (
        "Trigger",
        spec("filters", [{"all": [{"not": {"prefix": {"type": "a"}}}, {"any": [{"cesql": "x"}]}]}]),
        "spec.filters[0].all[1].any[0].cesql",
        "unsupported",
    ),
    ("Trigger", spec("filters", [{"any": []}]), "spec.filters[0].any", "non-empty list"),
    ("Trigger", spec("filters", [{}]), "spec.filters[0]", "no dialect"),
    (
        "Trigger",
        spec("filters", [{"regex": {"type": "x"}}]),
        "spec.filters[0].regex",
        "unknown field",
    ),
    (
        "Trigger",
        spec("filter", {"attributes": {"0abc": "x"}}),
        "spec.filter.attributes.0abc",
        "invalid attribute name",
    ),
    (
        "Trigger",
        spec("filter", {"attributes": {"a": "x"}, "exact": {}}),
        "spec.filter.exact",
        "unknown field",
    ),
    # Trigger delivery, subscriber, broker, metadata
    (
        "Trigger",
        spec("delivery", {"retryAfterMax": "PT1S"}),
        "spec.delivery.retryAfterMax",
        "unsupported",
    ),
    (
        "Trigger",
        spec("delivery", {"backoffPolicy": "fibonacci"}),
        "spec.delivery.backoffPolicy",
        "'fibonacci' is not one of",
    ),
    (
        "Trigger",
        spec("delivery", {"backoffDelay": "2s"}),
        "spec.delivery.backoffDelay",
        "not an ISO-8601 duration",
    ),
    (
        "Trigger",
        spec("delivery", {"timeout": "PT0S"}),
        "spec.delivery.timeout",
        "greater than zero",
    ),
    ("Trigger", spec("delivery", {"retry": -1}), "spec.delivery.retry", "integer >= 0"),
    ("Trigger", spec("delivery", {"format": "xml"}), "spec.delivery.format", "not one of"),
    (
        "Trigger",
        spec("delivery", {"deadLetterSink": {"uri": "dls"}}),
        "spec.delivery.deadLetterSink.uri",
        "must be absolute",
    ),
    (
        "Trigger",
        spec("subscriber", {"uri": "http://x/", "CACerts": "pem"}),
        "spec.subscriber.CACerts",
        "unsupported",
    ),
    (
        "Trigger",
        spec("subscriber", {"ref": {**SERVICE_REF, "address": "x"}}),
        "spec.subscriber.ref.address",
        "unsupported",
    ),
    (
        "Trigger",
        spec("subscriber", {"ref": {"kind": "Service", "name": "s"}}),
        "spec.subscriber.ref.apiVersion",
        "required",
    ),
    ("Trigger", spec("subscriber", {}), "spec.subscriber", "at least one of ref, uri"),
    ("Trigger", lambda d: d["spec"].pop("subscriber"), "spec.subscriber", "required"),
    ("Trigger", lambda d: d["spec"].pop("broker"), "spec.broker", "required"),
    (
        "Trigger",
        spec("brokerRef", {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b"}),
        "spec.brokerRef",
        "only one of broker",
    ),
    ("Trigger", spec("broker", "nope"), "spec.broker", "no Broker 'nope'"),
    ("Trigger", spec("foo", 1), "spec.foo", "unknown field"),
    (
        "Trigger",
        meta("annotations", {m.DELIVERY_ORDER_ANNOTATION: "sometimes"}),
        f"metadata.annotations[{m.DELIVERY_ORDER_ANNOTATION}]",
        "'sometimes' is not one of",
    ),
    (
        "Trigger",
        meta("annotations", {"eventing.knative.dev/injection": "enabled"}),
        "metadata.annotations[eventing.knative.dev/injection]",
        "unsupported",
    ),
    ("Trigger", meta("generateName", "t-"), "metadata.generateName", "unknown field"),
    # KafkaSource
    ("KafkaSource", spec("net", {"tls": {"enable": True}}), "spec.net", "unsupported"),
    ("KafkaSource", spec("initialOffset", "beginning"), "spec.initialOffset", "not one of"),
    ("KafkaSource", spec("ordering", "random"), "spec.ordering", "not one of"),
    ("KafkaSource", spec("topics", []), "spec.topics", "non-empty list"),
    (
        "KafkaSource",
        lambda d: d["spec"].pop("bootstrapServers"),
        "spec.bootstrapServers",
        "non-empty list",
    ),
    ("KafkaSource", spec("consumers", 0), "spec.consumers", "integer >= 1"),
    (
        "KafkaSource",
        spec("ceOverrides", {"extensions": {"type": "x"}}),
        "spec.ceOverrides.extensions.type",
        "extension name",
    ),
    (
        "KafkaSource",
        spec("ceOverrides", {"extensions": {"Bad-Name": "x"}}),
        "spec.ceOverrides.extensions.Bad-Name",
        "extension name",
    ),
    (
        "KafkaSource",
        spec("ceOverrides", {"extensions": {"a": 1}}),
        "spec.ceOverrides.extensions.a",
        "expected a string value",
    ),
    ("KafkaSource", spec("ceOverrides", {"foo": {}}), "spec.ceOverrides.foo", "unknown field"),
    (
        "KafkaSource",
        meta("labels", {m.KEY_TYPE_LABEL: "uuid"}),
        f"metadata.labels[{m.KEY_TYPE_LABEL}]",
        "'uuid' is not one of",
    ),
    ("KafkaSource", lambda d: d["spec"].pop("sink"), "spec.sink", "required"),
    # Broker
    (
        "Broker",
        meta("annotations", {m.BROKER_CLASS_ANNOTATION: "Foo"}),
        f"metadata.annotations[{m.BROKER_CLASS_ANNOTATION}]",
        "'Foo' is not one of",
    ),
    (
        "Broker",
        meta("annotations", {"kafka.eventing.knative.dev/external.topic": "t"}),
        "metadata.annotations[kafka.eventing.knative.dev/external.topic]",
        "unsupported",
    ),
    ("Broker", lambda d: d.__setitem__("spec", {"foo": 1}), "spec.foo", "unknown field"),
    # PingSource
    (
        "PingSource",
        lambda d: d["spec"].update(data="a", dataBase64="YQ=="),
        "spec.dataBase64",
        "mutually exclusive",
    ),
    ("PingSource", spec("schedule", "61 * * * *"), "spec.schedule", "61 is outside 0-59"),
    ("PingSource", spec("schedule", "* * *"), "spec.schedule", "expected 5 fields"),
    ("PingSource", spec("timezone", "Mars/Base"), "spec.timezone", "IANA time zone"),
    ("PingSource", spec("dataBase64", "!!"), "spec.dataBase64", "not valid base64"),
    (
        "PingSource",
        lambda d: d["spec"].update(data="{", contentType="application/json"),
        "spec.data",
        "not valid JSON",
    ),
    ("PingSource", spec("jsonData", "{}"), "spec.jsonData", "unknown field"),
    ("PingSource", lambda d: d["spec"].pop("sink"), "spec.sink", "required"),
    # Document level
    ("PingSource", lambda d: d.__setitem__("status", {}), "status", "unknown field"),
    (
        "KafkaSource",
        lambda d: d.__setitem__("apiVersion", "sources.knative.dev/v1beta1"),
        "apiVersion/kind",
        "unsupported sources.knative.dev/v1beta1/KafkaSource",
    ),
]


@pytest.mark.parametrize(
    ("kind", "edit", "path", "reason"), CASES, ids=[f"{c[0]}:{c[2]}:{c[3]}" for c in CASES]
)
def test_a_bad_field_fails_naming_file_resource_and_path(
    tmp_path: Path, kind: str, edit: Callable[[dict[str, Any]], None], path: str, reason: str
) -> None:
    docs = [BROKER] if kind != "Broker" else []
    file = write(tmp_path, *docs, variant(kind, edit))
    with pytest.raises(ManifestError) as caught:
        load(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{file}: {kind} {NAMES[kind]}: {path}: "), message
    assert reason in message


def test_an_unsupported_kind_is_named(tmp_path: Path) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {}}
    file = write(tmp_path, cm)
    with pytest.raises(ManifestError, match=rf"^{file}: ConfigMap cfg: "):
        load(tmp_path)


def test_duplicates_invalid_yaml_and_empty_dirs_fail(tmp_path: Path) -> None:
    write(tmp_path, BROKER, name="a.yaml")
    write(tmp_path, BROKER, name="b.yaml")
    with pytest.raises(ManifestError, match=r"b\.yaml: Broker b: duplicate of .*a\.yaml"):
        load(tmp_path)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.yaml").write_text("kind: [unclosed\n")
    with pytest.raises(ManifestError, match=r"x\.yaml: not valid YAML"):
        load(bad)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ManifestError, match="no \\*.yaml manifests"):
        load(empty)
