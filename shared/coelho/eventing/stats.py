"""Thread-safe event counters behind ``/status`` and ``Emulator.stats()``."""

from __future__ import annotations

import threading

FIELDS = ("records", "delivered", "dead_lettered", "dropped", "retries", "replies", "abandoned")


class Counters:
    """Named integer counters; ``add`` takes a lock (a plain ``+=`` can lose updates)."""

    __slots__ = ("_lock", "_values")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = dict.fromkeys(FIELDS, 0)

    def add(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._values[name] += amount

    def get(self, name: str) -> int:
        return self._values[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._values)
