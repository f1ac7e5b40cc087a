"""Load every YAML document in a directory into the typed model, failing loudly.

Anything the emulator would silently ignore is an error instead: an unknown field, a field
Knative has but the emulator does not emulate ("unsupported"), an unknown kind, an unsupported
``*.knative.dev`` annotation. Messages read
``eventing/300-triggers.yaml: Trigger learn-tfd: spec.filters[1].cesql: unsupported``.
Validation follows the Knative webhooks (attribute names, one dialect per filter, one key per
exact/prefix/suffix, enums, ISO-8601 durations, data vs dataBase64).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
import zoneinfo
from pathlib import Path
from typing import Any

import yaml

from coelho.eventing import model as m
from coelho.eventing.cron import parse_cron
from coelho.eventing.duck import (
    Ctx,
    ce_overrides,
    delivery,
    destination,
    integer,
    join,
    mapping,
    reference,
    string,
    string_list,
    string_map,
)
from coelho.eventing.errors import ManifestError
from coelho.eventing.jobs import job_sink

ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9]*$")
KINDS = {
    ("sources.knative.dev/v1", "KafkaSource"),
    ("sources.knative.dev/v1", "PingSource"),
    ("eventing.knative.dev/v1", "Broker"),
    ("eventing.knative.dev/v1", "Trigger"),
    (m.JOB_SINK_API, "JobSink"),
}
# Annotations/labels under knative.dev that each kind may carry; any other is "unsupported".
KNATIVE_KEYS = {
    "Broker": {m.BROKER_CLASS_ANNOTATION},
    "Trigger": {m.DELIVERY_ORDER_ANNOTATION, "knative.dev/dependency"},
    "KafkaSource": {m.KEY_TYPE_LABEL},
    "PingSource": set(),
    "JobSink": set(),
}
BROKER_CLASSES = m.KAFKA_BROKER_CLASSES | {m.MT_BROKER_CLASS}
KEY_TYPES = ("string", "int", "float", "byte-array")


def _meta(ctx: Ctx, doc: dict[str, Any], default_namespace: str) -> m.Meta:
    node = mapping(
        ctx, doc.get("metadata"), "metadata", ("name", "namespace", "labels", "annotations")
    )
    ctx.name = string(ctx, node, "name", "metadata", required=True) or "?"
    labels = string_map(ctx, node.get("labels"), "metadata.labels")
    annotations = string_map(ctx, node.get("annotations"), "metadata.annotations")
    for where, keys in (("labels", labels), ("annotations", annotations)):
        for key in keys:
            domain = key.partition("/")[0] if "/" in key else ""
            if domain.endswith("knative.dev") and key not in KNATIVE_KEYS[ctx.kind]:
                ctx.fail(f"metadata.{where}[{key}]", "unsupported")
    return m.Meta(
        kind=ctx.kind,
        name=ctx.name,
        namespace=string(ctx, node, "namespace", "metadata") or default_namespace,
        file=ctx.file,
        labels=labels,
        annotations=annotations,
    )


def _filter_expr(ctx: Ctx, node: Any, path: str) -> m.FilterExpr:
    node = mapping(ctx, node, path, ("exact", "prefix", "suffix", "all", "any", "not"), ("cesql",))
    if len(node) != 1:
        ctx.fail(
            path,
            "multiple dialects found, filters can have only one dialect set"
            if node
            else "empty filter expression (no dialect)",
        )
    dialect, body = next(iter(node.items()))
    here = join(path, dialect)
    if dialect in ("exact", "prefix", "suffix"):
        pairs = string_map(ctx, body, here)
        if len(pairs) != 1:
            ctx.fail(here, "can have only one key-value")
        attribute, value = next(iter(pairs.items()))
        if not ATTRIBUTE_NAME.match(attribute):
            ctx.fail(join(here, attribute), "invalid attribute name (must match ^[a-z][a-z0-9]*$)")
        if value == "":
            ctx.fail(join(here, attribute), "empty value (Knative silently ignores this filter)")
        cls = {"exact": m.Exact, "prefix": m.Prefix, "suffix": m.Suffix}[dialect]
        return cls(attribute, value)
    if dialect == "not":
        return m.Not(_filter_expr(ctx, body, here))
    if not isinstance(body, list) or not body:
        ctx.fail(here, "expected a non-empty list of filter expressions")
    nested = tuple(_filter_expr(ctx, item, join(here, i)) for i, item in enumerate(body))
    return m.All(nested) if dialect == "all" else m.AnyOf(nested)


def _broker(ctx: Ctx, doc: dict[str, Any], meta: m.Meta) -> m.Broker:
    spec = mapping(ctx, doc.get("spec") or {}, "spec", ("config", "delivery"))
    broker_class = meta.annotations.get(m.BROKER_CLASS_ANNOTATION, m.MT_BROKER_CLASS)
    if broker_class not in BROKER_CLASSES:
        ctx.fail(
            f"metadata.annotations[{m.BROKER_CLASS_ANNOTATION}]",
            f"{broker_class!r} is not one of {', '.join(sorted(BROKER_CLASSES))}",
        )
    config = spec.get("config")
    return m.Broker(
        meta=meta,
        broker_class=broker_class,
        config=None if config is None else reference(ctx, config, "spec.config", meta.namespace),
        delivery=delivery(ctx, spec.get("delivery"), "spec.delivery", meta.namespace),
    )


def _trigger(ctx: Ctx, doc: dict[str, Any], meta: m.Meta) -> m.Trigger:
    spec = mapping(
        ctx,
        doc.get("spec"),
        "spec",
        ("broker", "brokerRef", "filter", "filters", "subscriber", "delivery"),
    )
    broker, broker_ns = string(ctx, spec, "broker", "spec"), meta.namespace
    if "brokerRef" in spec:
        if broker:
            ctx.fail("spec.brokerRef", "set only one of broker, brokerRef")
        ref = reference(ctx, spec["brokerRef"], "spec.brokerRef", meta.namespace)
        if ref.namespace != meta.namespace:
            ctx.fail("spec.brokerRef.namespace", "unsupported (cross-namespace-event-links)")
        broker = ref.name
    if not broker:
        ctx.fail("spec.broker", "required")
    attributes: dict[str, str] = {}
    if spec.get("filter") is not None:
        node = mapping(ctx, spec["filter"], "spec.filter", ("attributes",))
        attributes = string_map(ctx, node.get("attributes"), "spec.filter.attributes")
        for name in attributes:
            if not ATTRIBUTE_NAME.match(name):
                ctx.fail(
                    f"spec.filter.attributes.{name}",
                    "invalid attribute name (must match ^[a-z][a-z0-9]*$)",
                )
    filters_node = spec.get("filters") or []
    if not isinstance(filters_node, list):
        ctx.fail("spec.filters", "expected a list of filter expressions")
    order = meta.annotations.get(m.DELIVERY_ORDER_ANNOTATION, "unordered")
    if order not in ("ordered", "unordered"):
        ctx.fail(
            f"metadata.annotations[{m.DELIVERY_ORDER_ANNOTATION}]",
            f"{order!r} is not one of ordered, unordered",
        )
    if "subscriber" not in spec:
        ctx.fail("spec.subscriber", "required")
    return m.Trigger(
        meta=meta,
        broker=broker,
        broker_namespace=broker_ns,
        subscriber=destination(ctx, spec["subscriber"], "spec.subscriber", meta.namespace),
        attributes=attributes,
        filters=tuple(
            _filter_expr(ctx, f, f"spec.filters[{i}]") for i, f in enumerate(filters_node)
        ),
        delivery=delivery(ctx, spec.get("delivery"), "spec.delivery", meta.namespace),
        ordered=order == "ordered",
    )


def _kafka_source(ctx: Ctx, doc: dict[str, Any], meta: m.Meta) -> m.KafkaSource:
    spec = mapping(
        ctx,
        doc.get("spec"),
        "spec",
        (
            "bootstrapServers",
            "topics",
            "consumerGroup",
            "consumers",
            "initialOffset",
            "ordering",
            "ceOverrides",
            "delivery",
            "sink",
        ),
        ("net",),
    )
    key_type = meta.labels.get(m.KEY_TYPE_LABEL, "string")
    if key_type not in KEY_TYPES:
        ctx.fail(
            f"metadata.labels[{m.KEY_TYPE_LABEL}]",
            f"{key_type!r} is not one of " + ", ".join(KEY_TYPES),
        )
    if "sink" not in spec:
        ctx.fail("spec.sink", "required")
    # Knative defaults an empty group to knative-kafka-source-<uuid> once, at creation; a
    # name-derived uuid keeps that stable across emulator restarts.
    stable = uuid.uuid5(uuid.NAMESPACE_URL, f"{meta.namespace}/{meta.name}")
    default_group = f"knative-kafka-source-{stable}"
    return m.KafkaSource(
        meta=meta,
        bootstrap_servers=string_list(ctx, spec, "bootstrapServers", "spec"),
        topics=string_list(ctx, spec, "topics", "spec"),
        consumer_group=string(ctx, spec, "consumerGroup", "spec") or default_group,
        consumers=integer(ctx, spec, "consumers", "spec", 1) or 1,
        initial_offset=string(ctx, spec, "initialOffset", "spec", choices=("earliest", "latest"))
        or "latest",
        ordering=string(ctx, spec, "ordering", "spec", choices=("ordered", "unordered"))
        or "ordered",
        ce_overrides=ce_overrides(ctx, spec.get("ceOverrides"), "spec.ceOverrides"),
        delivery=delivery(ctx, spec.get("delivery"), "spec.delivery", meta.namespace),
        sink=destination(ctx, spec["sink"], "spec.sink", meta.namespace),
        key_type=key_type,
    )


def _ping_source(ctx: Ctx, doc: dict[str, Any], meta: m.Meta) -> m.PingSource:
    spec = mapping(
        ctx,
        doc.get("spec"),
        "spec",
        ("schedule", "timezone", "data", "dataBase64", "contentType", "ceOverrides", "sink"),
    )
    schedule = string(ctx, spec, "schedule", "spec") or "* * * * *"
    try:
        parse_cron(schedule)
    except ValueError as exc:
        ctx.fail("spec.schedule", f"{schedule!r}: {exc}")
    timezone = string(ctx, spec, "timezone", "spec")
    if timezone:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            ctx.fail("spec.timezone", f"{timezone!r} is not an IANA time zone")
    text, encoded = string(ctx, spec, "data", "spec"), string(ctx, spec, "dataBase64", "spec")
    content_type = string(ctx, spec, "contentType", "spec")
    if text and encoded:
        ctx.fail("spec.dataBase64", "data and dataBase64 are mutually exclusive")
    data = text.encode() if text else None
    if encoded:
        try:
            data = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            ctx.fail("spec.dataBase64", "not valid base64")
    if text and content_type == "application/json":
        try:
            json.loads(text)
        except ValueError:
            ctx.fail("spec.data", "contentType is application/json but data is not valid JSON")
    if "sink" not in spec:
        ctx.fail("spec.sink", "required")
    return m.PingSource(
        meta=meta,
        sink=destination(ctx, spec["sink"], "spec.sink", meta.namespace),
        schedule=schedule,
        timezone=timezone,
        data=data,
        content_type=content_type,
        ce_overrides=ce_overrides(ctx, spec.get("ceOverrides"), "spec.ceOverrides"),
    )


_BUILDERS = {
    "Broker": _broker,
    "Trigger": _trigger,
    "KafkaSource": _kafka_source,
    "PingSource": _ping_source,
    "JobSink": job_sink,
}


def _parse_document(doc: Any, file: str, default_namespace: str) -> object:
    ctx = Ctx(file)
    if not isinstance(doc, dict):
        ctx.fail("(document)", f"expected a mapping, got {type(doc).__name__}")
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    ctx.kind, ctx.name = str(kind), name if isinstance(name, str) and name else "?"
    if (api_version, kind) not in KINDS:
        supported = ", ".join(f"{a} {k}" for a, k in sorted(KINDS))
        ctx.fail("apiVersion/kind", f"unsupported {api_version}/{kind} (supported: {supported})")
    doc = mapping(ctx, doc, "", ("apiVersion", "kind", "metadata", "spec"))
    meta = _meta(ctx, doc, default_namespace)
    return _BUILDERS[ctx.kind](ctx, doc, meta)


def load_file(path: Path, default_namespace: str = "default") -> list[object]:
    """Every resource in one YAML file (empty documents skipped)."""
    try:
        docs = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    return [_parse_document(d, str(path), default_namespace) for d in docs if d is not None]


def load(directory: str | Path, default_namespace: str = "default") -> m.Manifests:
    """Load ``*.yaml``/``*.yml`` in ``directory`` (sorted by name) and check cross-references.

    Raises ManifestError for any problem; a Trigger whose Broker is not in the directory is one.
    """
    root = Path(directory)
    files = (
        sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml")) if root.is_dir() else []
    )
    if not files:
        raise ManifestError(f"{root}: no *.yaml manifests found")
    resources = [r for f in files for r in load_file(f, default_namespace)]
    seen: dict[tuple[str, str, str], str] = {}
    for r in resources:
        meta: m.Meta = r.meta  # type: ignore[attr-defined]
        key = (meta.kind, meta.namespace, meta.name)
        if key in seen:
            raise ManifestError(f"{meta.where}: duplicate of the one in {seen[key]}")
        seen[key] = meta.file
    manifests = m.Manifests(
        brokers=tuple(r for r in resources if isinstance(r, m.Broker)),
        triggers=tuple(r for r in resources if isinstance(r, m.Trigger)),
        kafka_sources=tuple(r for r in resources if isinstance(r, m.KafkaSource)),
        ping_sources=tuple(r for r in resources if isinstance(r, m.PingSource)),
        job_sinks=tuple(r for r in resources if isinstance(r, m.JobSink)),
    )
    brokers = {(b.meta.namespace, b.meta.name) for b in manifests.brokers}
    for t in manifests.triggers:
        if (t.broker_namespace, t.broker) not in brokers:
            raise ManifestError(
                f"{t.meta.where}: spec.broker: no Broker {t.broker!r} in "
                f"namespace {t.broker_namespace!r} among the manifests"
            )
    return manifests
