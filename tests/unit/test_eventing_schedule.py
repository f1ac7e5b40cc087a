"""Cron schedules, ISO-8601 durations, PingSource events and the offset tracker."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from coelho.eventing.cron import parse_cron
from coelho.eventing.durations import parse_duration
from coelho.eventing.model import Destination, Meta, PingSource
from coelho.eventing.offsets import OffsetTracker
from coelho.eventing.ping import PingRunner, ping_event


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("* * * * *", datetime(2026, 3, 1, 10, 14, 30), datetime(2026, 3, 1, 10, 15)),
        ("*/15 * * * *", datetime(2026, 3, 1, 10, 15), datetime(2026, 3, 1, 10, 30)),
        ("5,35 9-10 * * *", datetime(2026, 3, 1, 10, 36), datetime(2026, 3, 2, 9, 5)),
        ("0 0 29 2 *", datetime(2026, 3, 1), datetime(2028, 2, 29)),
        ("0 12 * * mon-fri", datetime(2026, 11, 27, 12, 0), datetime(2026, 11, 30, 12, 0)),
        ("0 12 13 * 5", datetime(2026, 3, 1), datetime(2026, 3, 6, 12)),  # day OR weekday
        ("30 2 1 jan,jul *", datetime(2026, 2, 1), datetime(2026, 7, 1, 2, 30)),
        ("10-50/20 * * * *", datetime(2026, 1, 1, 0, 31), datetime(2026, 1, 1, 0, 50)),
        ("7/20 * * * *", datetime(2026, 1, 1, 0, 28), datetime(2026, 1, 1, 0, 47)),
        ("@hourly", datetime(2026, 12, 31, 23, 30), datetime(2027, 1, 1)),
        ("@weekly", datetime(2026, 11, 26), datetime(2026, 11, 29)),
        ("0 0 * * ?", datetime(2026, 1, 1, 5), datetime(2026, 1, 2)),
    ],
)
def test_next_firing_time(expression: str, after: datetime, expected: datetime) -> None:
    schedule = parse_cron(expression)
    assert schedule.next_after(after) == expected
    assert schedule.matches(expected)


def test_a_restricted_day_and_star_weekday_must_both_match() -> None:
    schedule = parse_cron("0 0 13 * *")
    assert schedule.next_after(datetime(2026, 3, 1)) == datetime(2026, 3, 13)
    stepped = parse_cron("0 0 */2 * 1")  # a stepped star is not a star: OR applies
    assert stepped.next_after(datetime(2026, 3, 1)) == datetime(2026, 3, 2)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("* * * *", "expected 5 fields"),
        ("60 * * * *", "outside 0-59"),
        ("* 24 * * *", "outside 0-23"),
        ("* * 0 * *", "outside 1-31"),
        ("* * * 13 *", "outside"),
        ("* * * * 7", "outside 0-6"),
        ("*/0 * * * *", "bad step"),
        ("5-1 * * * *", "backwards"),
        ("a * * * *", "not a number"),
        ("1,,2 * * * *", "empty list"),
        ("@every 1m", "not supported"),
    ],
)
def test_bad_cron_expressions_say_which_field(expression: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cron(expression)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT0.2S", 0.2),
        ("PT10S", 10.0),
        ("PT1M30S", 90.0),
        ("PT1H", 3600.0),
        ("P1D", 86400.0),
        ("P1W", 604800.0),
        ("P1DT1H", 90000.0),
        ("pt0.5s", 0.5),
    ],
)
def test_iso8601_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "10s", "P1Y", "P1M", "PT1S2", "P1DT", "-PT1S"])
def test_bad_durations_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_duration(text)


def ping_source(**spec: object) -> PingSource:
    meta = Meta(kind="PingSource", name="tick", namespace="coelho", file="p.yaml")
    return PingSource(meta, Destination(uri="http://127.0.0.1:1/"), **spec)  # type: ignore[arg-type]


def test_a_ping_event_is_knatives() -> None:
    now = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    source = ping_source(
        data=b'{"a":1}', content_type="application/json", ce_overrides={"domain": "all"}
    )
    event = ping_event(source, now)
    assert event.attrs["type"] == "dev.knative.sources.ping"
    assert event.attrs["source"] == "/apis/v1/namespaces/coelho/pingsources/tick"
    assert event.attrs["time"] == "2026-11-26T08:00:00.000Z"
    assert event.attrs["datacontenttype"] == "application/json"
    assert event.attrs["domain"] == "all" and event.data == b'{"a":1}'
    assert uuid.UUID(event.attrs["id"]) and ping_event(source, now).attrs["id"] != event.attrs["id"]
    bare = ping_event(ping_source(content_type="application/json"), now)
    assert "datacontenttype" not in bare.attrs and bare.data is None


def test_a_ping_runner_fires_per_schedule_in_its_zone() -> None:
    sent: list[object] = []
    runner = PingRunner(
        ping_source(schedule="0 9 * * *", timezone="Europe/Lisbon"), sent.append, threading.Event()
    )
    fire = runner.next_fire(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    assert fire.astimezone(UTC) == datetime(2026, 7, 2, 8, 0, tzinfo=UTC)  # 09:00 WEST
    runner.fire()
    assert runner.ticks == 1 and len(sent) == 1


def test_only_a_contiguous_finished_prefix_is_committable() -> None:
    tracker = OffsetTracker()
    assert tracker.committable() is None
    for offset in (5, 6, 7, 9):
        tracker.start(offset)
    tracker.finish(6)
    assert tracker.committable() is None and tracker.in_flight() == 4
    tracker.finish(5)
    assert tracker.committable() == 7
    tracker.finish(9)
    assert tracker.committable() == 7  # 7 is still in flight
    tracker.finish(7)
    assert tracker.committable() == 10 and tracker.in_flight() == 0
    with pytest.raises(ValueError, match="offset 8 started after 9"):
        tracker.start(8)
