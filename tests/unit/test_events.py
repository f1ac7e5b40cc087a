"""CloudEvent parsing: binary and structured modes, Kafka position, clear errors."""

from __future__ import annotations

import json

import pytest
from cloudevents.http import CloudEvent, to_binary, to_structured

from coelho import events
from coelho.domains import get
from coelho.errors import InvalidEvent, NotACloudEvent

SOURCE = "/apis/v1/namespaces/coelho/kafkasources/tfd#transaction_fraud_detection"


def _cloudevent(data: object, **extra: str) -> CloudEvent:
    attributes = {"type": events.KAFKA_EVENT_TYPE, "source": SOURCE, "id": "partition:2/offset:7",
                  "knativekafkapartition": "2", "knativekafkaoffset": "7", "domain": "tfd",
                  **extra}  # fmt: skip
    return CloudEvent(attributes, data)


@pytest.mark.parametrize("encode", [to_binary, to_structured], ids=["binary", "structured"])
def test_both_modes_give_the_validated_event_and_its_position(encode: object) -> None:
    tfd = get("tfd")
    data = tfd.generate(seed=1).next_event()
    headers, body = encode(_cloudevent(data))  # type: ignore[operator]
    parsed = events.domain_event(tfd, headers, body)
    assert parsed.data == data
    assert parsed.source == SOURCE
    assert parsed.id == "partition:2/offset:7"
    assert parsed.position == ("transaction_fraud_detection", 2, 7)


def test_errors_name_the_problem() -> None:
    tfd = get("tfd")
    with pytest.raises(NotACloudEvent, match="specversion"):
        events.domain_event(tfd, {"content-type": "application/json"}, b"{}")
    headers = {"ce-specversion": "1.0", "ce-type": "t", "ce-source": "s", "ce-id": "1",
               "content-type": "application/json"}  # fmt: skip
    with pytest.raises(InvalidEvent, match="data: not valid JSON"):
        events.domain_event(tfd, headers, b"{nope")
    with pytest.raises(InvalidEvent, match="user_id: is required"):
        events.domain_event(tfd, headers, json.dumps({"transaction_id": "x"}).encode())
    headers, body = to_binary(_cloudevent({"a": 1}, domain="eta"))
    with pytest.raises(InvalidEvent, match="domain: event is for 'eta'"):
        events.domain_event(tfd, headers, body)


@pytest.mark.parametrize("encode", [to_binary, to_structured], ids=["binary", "structured"])
def test_wsgi_headers_keep_what_the_sdk_reads(encode: object) -> None:
    """From a real WSGI environ (other headers around): same event as from every header."""
    from werkzeug.test import EnvironBuilder

    tfd = get("tfd")
    data = tfd.generate(seed=2).next_event()
    headers, body = encode(_cloudevent(data, partitionkey="k"))  # type: ignore[operator]
    environ = EnvironBuilder(method="POST", data=body, headers={
        **headers, "User-Agent": "broker", "Traceparent": "00-ab-cd-01"}).get_environ()  # fmt: skip
    picked = events.wsgi_headers(environ)
    assert set(picked) == {k.lower() for k in headers}  # only ce-* and content-type
    from_picked = events.domain_event(tfd, picked, body)
    from_all = events.domain_event(tfd, dict(headers), body)
    assert from_picked == from_all and from_picked.data == data
