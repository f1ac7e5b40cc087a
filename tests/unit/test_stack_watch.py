"""Restart policy: a crashed child comes back after a doubling backoff; finished ones stay down."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from coelho.stack.watch import HEALTHY_AFTER, MAX_BACKOFF, Component, restart_dead


@dataclass
class FakeChild:
    """Stands in for ``Child``: dead with ``code`` until ``start()`` is called."""

    code: int | None = 1
    starts: int = 0
    pid: int = 100
    log_path: Path = Path("/dev/null")

    def alive(self) -> bool:
        return self.code is None

    def returncode(self) -> int | None:
        return self.code

    def start(self) -> FakeChild:
        self.starts += 1
        self.code = None
        return self


def component(child: FakeChild, **kwargs: Any) -> Component:
    return Component("learn-tfd", "http://x", cast(Any, child), started_at=0.0, **kwargs)


def test_a_crash_is_restarted_after_its_backoff() -> None:
    child = FakeChild()
    comp = component(child)
    assert restart_dead([comp], now=10.0) is False  # scheduled, not yet
    assert restart_dead([comp], now=10.5) is False
    assert restart_dead([comp], now=11.0) is True
    assert child.starts == 1 and comp.restarts == 1 and comp.backoff == 2.0


def test_backoff_doubles_up_to_the_cap_and_resets_when_healthy() -> None:
    child = FakeChild()
    comp = component(child)
    now = 0.0
    for _ in range(8):
        child.code = 1
        restart_dead([comp], now=now)
        now += comp.backoff
        restart_dead([comp], now=now)
    assert comp.backoff == MAX_BACKOFF
    restart_dead([comp], now=comp.started_at + HEALTHY_AFTER + 1)
    assert comp.backoff == 1.0


def test_a_producer_that_finished_is_not_restarted() -> None:
    child = FakeChild(code=0)
    comp = component(child, finished_ok=True)
    for now in (1.0, 100.0):
        assert restart_dead([comp], now=now) is False
    assert child.starts == 0


def test_external_servers_are_not_watched() -> None:
    assert restart_dead([Component("kafka", "127.0.0.1:9092")], now=5.0) is False
