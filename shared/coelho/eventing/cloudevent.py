"""CloudEvents as the emulator moves them: a flat attribute dict plus raw data bytes.

``RecordConverter`` turns a Kafka record into exactly the event KafkaSource emits (knative-facts
§1.6), or forwards a record that already is a CloudEvent (Kafka protocol binding, binary
``ce_*`` headers or structured ``application/cloudevents+json``) as is (§1.7). ``to_binary`` /
``to_structured`` / ``from_http`` are the HTTP protocol binding.

Header values are sent verbatim when they are printable ASCII, as the Knative Kafka data plane
(CloudEvents Java SDK) does and as the cloudevents 1.x Python SDK the functions use expects (it
never percent-decodes); only characters outside U+0020-U+007E are percent-encoded (UTF-8), since
they cannot travel in an HTTP header at all.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coelho.eventing.model import KAFKA_EVENT_TYPE

REQUIRED = ("specversion", "id", "source", "type")
SPEC_VERSIONS = ("1.0", "0.3")
STRUCTURED = "application/cloudevents+json"
_NOT_EXTENSION_CHARS = re.compile(r"[^a-z0-9]")
_UNSAFE_HEADER_CHARS = re.compile(r"[^\x20-\x7e]")


@dataclass(slots=True)
class Event:
    """Context attributes (all strings, extensions included) and the data bytes."""

    attrs: dict[str, str]
    data: bytes | None = None
    hops: int = field(default=0, compare=False)  # reply generations; loop guard, never sent

    def with_extensions(self, extensions: Mapping[str, str]) -> Event:
        return Event({**self.attrs, **extensions}, self.data, self.hops)


def format_time(timestamp_ms: int) -> str:
    """RFC 3339 UTC with milliseconds, e.g. ``2026-11-26T08:10:00.123Z``."""
    moment = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sanitize_header_name(name: str) -> str:
    """``X-Trace-Id`` -> ``xtraceid``: lower-cased, everything outside [a-z0-9] dropped."""
    return _NOT_EXTENSION_CHARS.sub("", name.lower())


def _text(raw: bytes | None) -> str:
    return "" if raw is None else raw.decode("utf-8", errors="replace")


def decode_key(key: bytes, key_type: str) -> str:
    """The record key as the KafkaSource key deserializer renders it (label ``key-type``)."""
    if key_type == "int" and len(key) == 4:
        return str(struct.unpack(">i", key)[0])
    if key_type == "float" and len(key) in (4, 8):
        return repr(struct.unpack(">f" if len(key) == 4 else ">d", key)[0])
    if key_type == "byte-array":
        return base64.b64encode(key).decode("ascii")
    return _text(key)


def _is_json_type(content_type: str | None) -> bool:
    if content_type is None:
        return True  # the JSON event format assumes JSON data when the type is absent
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("application/json", "text/json") or media.endswith("+json")


def _from_json_object(obj: Any) -> Event | None:
    """A structured-mode JSON object -> Event, or None if it is not a valid CloudEvent."""
    if not isinstance(obj, dict):
        return None
    if any(not isinstance(obj.get(a), str) or not obj.get(a) for a in REQUIRED):
        return None
    if obj["specversion"] not in SPEC_VERSIONS:
        return None
    attrs: dict[str, str] = {}
    for name, value in obj.items():
        if name in ("data", "data_base64") or value is None:
            continue
        attrs[name] = value if isinstance(value, str) else json.dumps(value)
    data: bytes | None = None
    if isinstance(obj.get("data_base64"), str):
        try:
            data = base64.b64decode(obj["data_base64"], validate=True)
        except ValueError:
            return None
    elif "data" in obj:
        value = obj["data"]
        if isinstance(value, str) and not _is_json_type(attrs.get("datacontenttype")):
            data = value.encode()
        else:
            data = json.dumps(value, separators=(",", ":")).encode()
    return Event(attrs, data)


def from_structured(body: bytes) -> Event | None:
    try:
        return _from_json_object(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        return None


class RecordConverter:
    """Kafka record -> CloudEvent for one KafkaSource (precomputes the per-source strings)."""

    def __init__(
        self,
        namespace: str,
        name: str,
        overrides: Mapping[str, str] | None = None,
        key_type: str = "string",
    ) -> None:
        self._source_prefix = f"/apis/v1/namespaces/{namespace}/kafkasources/{name}#"
        self._overrides = dict(overrides or {})
        self._key_type = key_type

    def convert(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: Iterable[tuple[str, bytes | None]] = (),
    ) -> Event:
        headers = list(headers)
        event = self._as_cloudevent(headers, value)
        if event is None:
            event = self._wrap(topic, partition, offset, timestamp_ms, key, value, headers)
        attrs = event.attrs
        attrs["knativekafkapartition"] = str(partition)
        attrs["knativekafkaoffset"] = str(offset)
        attrs.update(self._overrides)
        return event

    def convert_record(self, record: Any) -> Event:
        """Same as ``convert`` for a kafka-python ``ConsumerRecord``."""
        return self.convert(
            record.topic,
            record.partition,
            record.offset,
            record.timestamp,
            record.key,
            record.value,
            record.headers or (),
        )

    def _wrap(
        self,
        topic: str,
        partition: int,
        offset: int,
        timestamp_ms: int | None,
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes | None]],
    ) -> Event:
        attrs = {
            "specversion": "1.0",
            "id": f"partition:{partition}/offset:{offset}",
            "source": self._source_prefix + topic,
            "type": KAFKA_EVENT_TYPE,
            "subject": f"partition:{partition}#{offset}",
        }
        if timestamp_ms is not None and timestamp_ms >= 0:
            attrs["time"] = format_time(timestamp_ms)
        if key:
            attrs["key"] = attrs["partitionkey"] = decode_key(key, self._key_type)
        for name, raw in headers:
            if name.lower() == "content-type":
                attrs["datacontenttype"] = _text(raw).lower()
            else:
                attrs["kafkaheader" + sanitize_header_name(name)] = _text(raw)
        return Event(attrs, value)

    @staticmethod
    def _as_cloudevent(
        headers: list[tuple[str, bytes | None]], value: bytes | None
    ) -> Event | None:
        """Decode per the CloudEvents Kafka binding; None if the record is not a CloudEvent."""
        content_type = next((_text(v) for k, v in headers if k.lower() == "content-type"), None)
        if content_type is not None and content_type.lower().startswith(STRUCTURED):
            return from_structured(value) if value else None
        attrs = {k[3:].lower(): _text(v) for k, v in headers if k.lower().startswith("ce_")}
        if not attrs:
            return None
        if any(not attrs.get(a) for a in REQUIRED) or attrs["specversion"] not in SPEC_VERSIONS:
            return None
        if content_type is not None:
            attrs["datacontenttype"] = content_type
        return Event(attrs, value)


def _header_value(value: str) -> str:
    if _UNSAFE_HEADER_CHARS.search(value) is None:
        return value
    return _UNSAFE_HEADER_CHARS.sub(
        lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), value
    )


def to_binary(event: Event) -> tuple[dict[str, str], bytes]:
    """HTTP binary mode: ``ce-*`` headers, ``Content-Type`` = datacontenttype, body = data."""
    headers: dict[str, str] = {}
    for name, value in event.attrs.items():
        if name == "datacontenttype":
            headers["Content-Type"] = _header_value(value)
        else:
            headers["ce-" + name] = _header_value(value)
    return headers, event.data or b""


def to_structured(event: Event) -> tuple[dict[str, str], bytes]:
    """HTTP structured mode: one ``application/cloudevents+json`` document."""
    doc: dict[str, Any] = dict(event.attrs)
    data, content_type = event.data, event.attrs.get("datacontenttype")
    if data is not None:
        try:
            if _is_json_type(content_type):
                doc["data"] = json.loads(data)
            elif content_type.lower().startswith("text/"):  # type: ignore[union-attr]
                doc["data"] = data.decode("utf-8")
            else:
                doc["data_base64"] = base64.b64encode(data).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            doc["data_base64"] = base64.b64encode(data).decode("ascii")
    body = json.dumps(doc, separators=(",", ":")).encode()
    return {"Content-Type": STRUCTURED + "; charset=utf-8"}, body


def from_http(headers: Mapping[str, str], body: bytes) -> Event | None:
    """Decode an HTTP message (header names lower-cased); None if it is not a CloudEvent."""
    content_type = headers.get("content-type")
    if content_type is not None and content_type.lower().startswith(STRUCTURED):
        return from_structured(body)
    if "ce-specversion" not in headers:
        return None
    attrs = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
    if any(not attrs.get(a) for a in REQUIRED) or attrs["specversion"] not in SPEC_VERSIONS:
        return None
    if content_type:
        attrs["datacontenttype"] = content_type
    return Event(attrs, body or None)
