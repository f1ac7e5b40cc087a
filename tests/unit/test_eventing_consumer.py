"""StrandedWatch: when a group leaves the source's consumer with nothing although the topic has
partitions, it rejoins, and waits longer each time (a fake consumer: no Kafka here)."""

from __future__ import annotations

from typing import Any

import pytest

from coelho.eventing import consumer as c
from coelho.eventing import model as m


class FakeConsumer:
    def __init__(self, partitions: set[int] | None) -> None:
        self.assigned: set[Any] = set()
        self.calls: list[str] = []
        self._client = type("Client", (), {"cluster": self})()
        self._partitions = partitions

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions

    def assignment(self) -> set[Any]:
        return self.assigned

    def unsubscribe(self) -> None:
        self.calls.append("unsubscribe")

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.calls.append(f"subscribe {topics}")


class Runner:
    name = "tfd"

    def commit_revoked(self, revoked: set[Any]) -> None: ...

    def mark_lost(self, lost: set[Any]) -> None: ...


SOURCE = m.KafkaSource(
    m.Meta("KafkaSource", "tfd", "coelho", "200-kafkasources.yaml"), ("k:9092",), ("t",), "g",
    m.Destination(uri="http://x"),
)  # fmt: skip


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(c.time, "monotonic", lambda: now[0])
    return now


def test_a_stranded_consumer_rejoins_after_the_wait_and_then_waits_longer(
    clock: list[float],
) -> None:
    consumer, watch = FakeConsumer({0, 1, 2}), c.StrandedWatch(SOURCE, Runner())
    assert not watch.check(consumer)  # the clock starts
    clock[0] += c.STRANDED_SECONDS - 1
    assert not watch.check(consumer)
    clock[0] += 1
    assert watch.check(consumer)
    assert consumer.calls == ["unsubscribe", "subscribe ['t']"]
    assert watch.wait == 2 * c.STRANDED_SECONDS
    for _ in range(10):  # doubling, capped
        clock[0] += watch.wait
        watch.check(consumer)
        clock[0] += watch.wait
        watch.check(consumer)
    assert watch.wait == c.MAX_STRANDED_SECONDS


def test_no_rejoin_while_assigned_or_while_the_topic_is_unknown(clock: list[float]) -> None:
    assigned = FakeConsumer({0, 1, 2})
    assigned.assigned = {("t", 0)}
    unknown = FakeConsumer(None)
    for consumer in (assigned, unknown):
        watch = c.StrandedWatch(SOURCE, Runner())
        for _ in range(5):
            assert not watch.check(consumer)
            clock[0] += c.STRANDED_SECONDS
        assert consumer.calls == []
