"""Kafka record -> CloudEvent exactly as KafkaSource emits it, and the HTTP binding both ways."""

from __future__ import annotations

import base64
import json
import struct
from datetime import UTC, datetime

import pytest
from cloudevents.http import from_http as sdk_from_http
from kafka.consumer.fetcher import ConsumerRecord

from coelho.eventing.cloudevent import (
    Event,
    RecordConverter,
    decode_key,
    format_time,
    from_http,
    to_binary,
    to_structured,
)

TS = int(datetime(2026, 11, 26, 8, 10, 0, 123000, tzinfo=UTC).timestamp() * 1000)


def test_the_knative_facts_example() -> None:
    """knative-facts §1.8: record on sensor-readings p2 o1041 from KafkaSource ml/ingest."""
    event = RecordConverter("ml", "ingest").convert(
        "sensor-readings",
        2,
        1041,
        TS,
        b"device-17",
        b'{"temp": 21.4}',
        [("content-type", b"application/json"), ("X-Trace-Id", b"abc")],
    )
    assert event.attrs == {
        "specversion": "1.0",
        "id": "partition:2/offset:1041",
        "source": "/apis/v1/namespaces/ml/kafkasources/ingest#sensor-readings",
        "type": "dev.knative.kafka.event",
        "subject": "partition:2#1041",
        "time": "2026-11-26T08:10:00.123Z",
        "key": "device-17",
        "partitionkey": "device-17",
        "datacontenttype": "application/json",
        "kafkaheaderxtraceid": "abc",
        "knativekafkapartition": "2",
        "knativekafkaoffset": "1041",
    }
    assert event.data == b'{"temp": 21.4}'


def test_no_key_no_content_type_no_headers_means_no_such_attributes() -> None:
    for key in (None, b""):
        event = RecordConverter("coelho", "tfd").convert("t", 0, 5, TS, key, b"x")
        assert "key" not in event.attrs and "partitionkey" not in event.attrs
        assert "datacontenttype" not in event.attrs
        assert not [a for a in event.attrs if a.startswith("kafkaheader")]


def test_headers_are_sanitized_and_content_type_lower_cased() -> None:
    event = RecordConverter("coelho", "tfd").convert(
        "t",
        0,
        5,
        TS,
        None,
        b"x",
        [
            ("Content-Type", b"Application/JSON; Charset=UTF-8"),
            ("my_Header.V2", b"v"),
            ("X-Empty", None),
            ("trace-id", "\u00e9t\u00e9".encode()),
        ],
    )
    assert event.attrs["datacontenttype"] == "application/json; charset=utf-8"
    assert event.attrs["kafkaheadermyheaderv2"] == "v"
    assert event.attrs["kafkaheaderxempty"] == ""
    assert event.attrs["kafkaheadertraceid"] == "\u00e9t\u00e9"
    assert "kafkaheadercontenttype" not in event.attrs


def test_ce_overrides_come_last_and_time_is_optional() -> None:
    converter = RecordConverter("coelho", "tfd", {"domain": "tfd", "key": "overridden"})
    event = converter.convert("t", 1, 9, -1, b"k", b"x")
    assert event.attrs["domain"] == "tfd"
    assert event.attrs["key"] == "overridden" and event.attrs["partitionkey"] == "k"
    assert "time" not in event.attrs
    assert list(event.attrs)[-1] == "domain"  # applied after knativekafka* extensions


def test_a_binary_mode_cloudevent_record_is_forwarded_as_is() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"order-1"),
        ("ce_source", b"/shop"),
        ("ce_type", b"shop.order"),
        ("ce_subject", b"o/1"),
        ("ce_time", b"2026-01-01T00:00:00Z"),
        ("ce_myext", b"v"),
        ("content-type", b"application/json"),
        ("X-Trace-Id", b"abc"),
    ]
    converter = RecordConverter("coelho", "src", {"domain": "tfd"})
    event = converter.convert("orders", 1, 3, TS, b"key-1", b'{"a":1}', headers)
    assert event.attrs == {
        "specversion": "1.0",
        "id": "order-1",
        "source": "/shop",
        "type": "shop.order",
        "subject": "o/1",
        "time": "2026-01-01T00:00:00Z",
        "myext": "v",
        "datacontenttype": "application/json",
        "knativekafkapartition": "1",
        "knativekafkaoffset": "3",
        "domain": "tfd",
    }
    assert event.data == b'{"a":1}'


def test_a_structured_mode_cloudevent_record_is_forwarded_as_is() -> None:
    doc = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/s",
        "type": "t.x",
        "datacontenttype": "application/json",
        "data": {"n": 1},
    }
    record = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    event = RecordConverter("coelho", "src").convert(
        "t", 0, 8, TS, b"k", json.dumps(doc).encode(), record
    )
    assert event.attrs["id"] == "e1" and event.attrs["type"] == "t.x"
    assert "key" not in event.attrs and event.attrs["knativekafkaoffset"] == "8"
    assert json.loads(event.data or b"") == {"n": 1}
    binary = {
        **doc,
        "datacontenttype": "application/octet-stream",
        "data_base64": base64.b64encode(b"\x00\x01").decode(),
    }
    del binary["data"]
    event = RecordConverter("coelho", "src").convert(
        "t", 0, 9, TS, None, json.dumps(binary).encode(), record
    )
    assert event.data == b"\x00\x01"


@pytest.mark.parametrize(
    "headers",
    [
        [("ce_specversion", b"1.0"), ("ce_source", b"/s"), ("ce_type", b"t")],  # no ce_id
        [("ce_specversion", b"9.9"), ("ce_id", b"1"), ("ce_source", b"/s"), ("ce_type", b"t")],
        [("content-type", b"application/cloudevents+json")],  # body is not a CloudEvent
    ],
)
def test_a_record_that_fails_cloudevent_decoding_is_wrapped(headers: list) -> None:
    event = RecordConverter("coelho", "src").convert("t", 0, 4, TS, None, b"{}", headers)
    assert event.attrs["type"] == "dev.knative.kafka.event"
    assert event.attrs["id"] == "partition:0/offset:4"


def test_convert_record_reads_a_kafka_python_consumer_record() -> None:
    record = ConsumerRecord("t", 2, -1, 11, TS, 0, b"k", b"v", [("h", b"1")], None, 1, 1, 1)
    event = RecordConverter("coelho", "tfd").convert_record(record)
    assert event.attrs["id"] == "partition:2/offset:11"
    assert event.attrs["kafkaheaderh"] == "1" and event.data == b"v"


def test_key_types() -> None:
    assert decode_key(struct.pack(">i", -42), "int") == "-42"
    assert decode_key(b"abc", "int") == "abc"  # not 4 bytes: falls back to a string
    assert decode_key(struct.pack(">d", 1.5), "float") == "1.5"
    assert decode_key(b"\x00\xff", "byte-array") == "AP8="
    assert decode_key(b"card-1", "string") == "card-1"


def test_format_time_is_rfc3339_utc_with_millis() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000Z"
    assert format_time(TS) == "2026-11-26T08:10:00.123Z"


def _sdk_attrs(headers: dict[str, str], body: bytes) -> dict[str, str]:
    event = sdk_from_http(headers, body)
    return {k: str(v) for k, v in event.get_attributes().items()}


def test_binary_mode_decodes_identically_with_the_functions_sdk() -> None:
    event = RecordConverter("coelho", "tfd", {"domain": "tfd"}).convert(
        "t", 0, 5, TS, b"card 7", b'{"amount": 3.5}', [("content-type", b"application/json")]
    )
    headers, body = to_binary(event)
    assert headers["Content-Type"] == "application/json"
    assert headers["ce-key"] == "card 7"  # printable ASCII travels verbatim
    assert body == b'{"amount": 3.5}'
    sdk = _sdk_attrs(headers, body)
    assert {k: v for k, v in sdk.items() if k != "time"} == {
        k: v for k, v in event.attrs.items() if k != "time"
    }
    assert sdk_from_http(headers, body).data == {"amount": 3.5}


def test_structured_mode_decodes_identically_with_the_functions_sdk() -> None:
    event = RecordConverter("coelho", "tfd").convert(
        "t", 0, 5, TS, b"k", b'{"amount": 3.5}', [("content-type", b"application/json")]
    )
    headers, body = to_structured(event)
    assert headers["Content-Type"].startswith("application/cloudevents+json")
    doc = json.loads(body)
    assert doc["data"] == {"amount": 3.5} and doc["id"] == "partition:0/offset:5"
    sdk = sdk_from_http(headers, body)
    assert sdk["id"] == "partition:0/offset:5" and sdk.data == {"amount": 3.5}
    raw = Event(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "/s",
            "type": "t",
            "datacontenttype": "application/octet-stream",
        },
        b"\x00\xff",
    )
    assert json.loads(to_structured(raw)[1])["data_base64"] == "AP8="
    assert from_http({"content-type": "application/cloudevents+json"}, to_structured(raw)[1]) == raw


def test_non_ascii_header_values_are_percent_encoded() -> None:
    event = Event(
        {"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "note": "caf\u00e9\r\nx"},
        None,
    )
    headers, body = to_binary(event)
    assert headers["ce-note"] == "caf%C3%A9%0D%0Ax"
    assert body == b""


def test_from_http_recognises_replies_and_rejects_the_rest() -> None:
    binary = {
        "ce-specversion": "1.0",
        "ce-id": "r1",
        "ce-source": "/fn",
        "ce-type": "reply",
        "content-type": "application/json",
    }
    reply = from_http(binary, b'{"ok": true}')
    assert reply is not None and reply.attrs["datacontenttype"] == "application/json"
    assert reply.attrs["id"] == "r1" and reply.data == b'{"ok": true}'
    no_data = from_http({k: v for k, v in binary.items() if k != "content-type"}, b"")
    assert no_data is not None and no_data.data is None
    assert from_http({k: v for k, v in binary.items() if k != "ce-id"}, b"x") is None
    assert from_http({"content-type": "text/html"}, b"OK") is None
    assert from_http({"content-type": "application/cloudevents+json"}, b"{not json") is None
    assert from_http({"content-type": "application/cloudevents+json"}, b'{"id": "x"}') is None
