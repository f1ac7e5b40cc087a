"""Which offsets of one partition are finished, and the offset that is safe to commit.

Kafka commits "the next offset to read", so only a contiguous prefix of finished records may be
committed: if 5 and 7 are done but 6 is still in flight, the commit stays at 6.
"""

from __future__ import annotations

import threading
from collections import deque


class OffsetTracker:
    """``start`` offsets in fetch order, ``finish`` them in any order, commit ``committable``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: deque[int] = deque()
        self._finished: set[int] = set()
        self._next: int | None = None
        self._last_started = -1

    def start(self, offset: int) -> None:
        with self._lock:
            if offset <= self._last_started:
                raise ValueError(f"offset {offset} started after {self._last_started}")
            self._last_started = offset
            self._pending.append(offset)

    def finish(self, offset: int) -> None:
        with self._lock:
            self._finished.add(offset)
            pending = self._pending
            while pending and pending[0] in self._finished:
                done = pending.popleft()
                self._finished.discard(done)
                self._next = done + 1

    def committable(self) -> int | None:
        """The offset to commit (last contiguous finished + 1), or None if nothing finished."""
        return self._next

    def in_flight(self) -> int:
        return len(self._pending)
