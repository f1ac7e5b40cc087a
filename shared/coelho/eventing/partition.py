"""The records fetched for one partition and the thread that dispatches them, in order.

``ordered``: one record at a time, the next starts when the previous is done. ``unordered``:
records start in order but run concurrently on the runner's pool, bounded by its slots. Either
way each record is registered with the partition's ``OffsetTracker`` when it starts and
finished when it is done, so only a finished prefix is ever committed.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Executor
from typing import Any, Protocol

from kafka import TopicPartition

from coelho.eventing.offsets import OffsetTracker


class Runner(Protocol):
    """What a worker needs from its SourceRunner."""

    name: str
    paused: bool
    executor: Executor | None
    slots: threading.Semaphore

    def process(self, record: Any) -> bool: ...


class PartitionWorker:
    """The fetched-but-not-started records of one partition and the thread that takes them."""

    def __init__(self, tp: TopicPartition, runner: Runner) -> None:
        self.tp = tp
        self.runner = runner
        self.tracker = OffsetTracker()
        self._queue: deque[Any] = deque()
        self._cond = threading.Condition()
        self._last_enqueued = -1
        self._retired = False
        self.thread = threading.Thread(
            target=self._run, name=f"eventing-{runner.name}-{tp.topic}-{tp.partition}", daemon=True
        )

    def enqueue(self, records: list[Any]) -> None:
        with self._cond:
            for record in records:
                if record.offset > self._last_enqueued:  # a re-fetch after a reset repeats some
                    self._queue.append(record)
                    self._last_enqueued = record.offset
            self._cond.notify()

    def backlog(self) -> int:
        return len(self._queue)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def retire(self) -> None:
        """Take no further record; queued ones are dropped (uncommitted, so fetched again)."""
        with self._cond:
            self._retired = True
            self._queue.clear()
            self._cond.notify_all()

    def _next(self) -> Any | None:
        with self._cond:
            while not self._retired:
                if self._queue and not self.runner.paused:
                    record = self._queue.popleft()
                    self.tracker.start(record.offset)
                    return record
                self._cond.wait(0.2)
        return None

    def _run(self) -> None:
        runner = self.runner
        if runner.executor is None:
            while (record := self._next()) is not None:
                if not runner.process(record):
                    return
                self.tracker.finish(record.offset)
            return
        while not self._retired:
            if not runner.slots.acquire(timeout=0.2):
                continue
            record = self._next()
            if record is None:
                runner.slots.release()
                return
            runner.executor.submit(self._process_async, record)

    def _process_async(self, record: Any) -> None:
        try:
            if self.runner.process(record):
                self.tracker.finish(record.offset)
        finally:
            self.runner.slots.release()
