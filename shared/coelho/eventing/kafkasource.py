"""One KafkaSource: a consumer group over all partitions of its topics, a worker per partition.

The poll thread owns the ``KafkaConsumer``: it fetches, hands records to per-partition queues,
pauses fetching for a partition whose queue is long (or for all when the source is paused), and
commits. Each partition worker takes records in order; ``ordered`` dispatches one record at a
time (the next starts when the previous was delivered, dead-lettered or dropped), ``unordered``
dispatches concurrently on a pool with at most ``max_in_flight`` records in flight per source.

An offset is committed only after its record and every earlier record of the partition are
done (``OffsetTracker``): periodically, on pause, on revocation (best effort, asynchronous: the
rebalance listener runs on kafka-python's IO thread, where blocking calls are refused) and on
stop. An abandoned record (stop during delivery) is never committed, so it is redelivered.
``spec.consumers`` is accepted but one consumer is used: parallelism comes from the per-partition
workers.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from coelho.eventing.cloudevent import Event, RecordConverter
from coelho.eventing.consumer import StrandedWatch, release_parked_records, subscribe
from coelho.eventing.model import KafkaSource
from coelho.eventing.partition import PartitionWorker
from coelho.eventing.stats import Counters

log = logging.getLogger(__name__)

Dispatch = Callable[[Event, Sequence[Counters]], bool]  # True once done, False if abandoned
HIGH_WATER = 1000  # queued records of one partition before its fetching pauses
LOW_WATER = 200
POLL_TIMEOUT_MS = 100
REPLAY_CHECK_SECONDS = 0.5


class SourceRunner:
    def __init__(
        self,
        source: KafkaSource,
        bootstrap: str,
        dispatch: Dispatch,
        *,
        commit_interval: float = 1.0,
        max_in_flight: int = 64,
        high_water: int = HIGH_WATER,
        low_water: int = LOW_WATER,
        consumer_options: dict[str, Any] | None = None,
        replays: Callable[[str], dict[int, int] | None] | None = None,
    ) -> None:
        self.source = source
        # Recovery (coelho.recovery): topic -> {partition: offset} to seek back to, or None.
        self._replays = replays
        self._high_water, self._low_water = high_water, low_water
        self.name = f"{source.meta.namespace}/{source.meta.name}"
        self.bootstrap = bootstrap
        self.converter = RecordConverter(
            source.meta.namespace, source.meta.name, source.ce_overrides, source.key_type
        )
        self.counters = Counters()
        self.paused = False
        self.error: str | None = None
        self._dispatch = dispatch
        self._commit_interval = commit_interval
        self._consumer_options = consumer_options or {}
        self.executor = (
            ThreadPoolExecutor(max_in_flight, thread_name_prefix=f"eventing-{self.name}")
            if source.ordering == "unordered"
            else None
        )
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self._lock = threading.Lock()
        self._partitions: dict[TopicPartition, PartitionWorker] = {}
        self._retired: list[PartitionWorker] = []
        self._lost: set[TopicPartition] = set()
        self._committed: dict[TopicPartition, int] = {}
        self._flow_paused: set[TopicPartition] = set()
        self._lag: dict[str, int | None] = {}
        self._stop = threading.Event()
        self._stop_grace = 5.0
        self._assigned = threading.Event()
        self._consumer: KafkaConsumer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (raises if Kafka is unreachable) and start polling in a thread."""
        self._consumer = subscribe(self.source, self.bootstrap, self, self._consumer_options)
        self._thread = threading.Thread(
            target=self._poll_loop, name=f"eventing-poll-{self.name}", daemon=True
        )
        self._thread.start()

    def request_stop(self, grace: float) -> None:
        self._stop_grace = grace
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_assigned(self, timeout: float) -> bool:
        return self._assigned.wait(timeout)

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        with self._lock:
            for partition in self._partitions.values():
                partition.wake()

    def idle(self) -> bool:
        """Nothing in flight and everything finished is committed."""
        with self._lock:
            parts = list(self._partitions.items())
        return all(
            p.tracker.in_flight() == 0 and self._committed.get(tp) == p.tracker.committable()
            for tp, p in parts
        )

    # -- record path -----------------------------------------------------------------------
    def process(self, record: Any) -> bool:
        """Convert and dispatch one record; True when it is done and may be committed."""
        self.counters.add("records")
        try:
            event = self.converter.convert_record(record)
            return self._dispatch(event, (self.counters,))
        except Exception as exc:  # a bug, not a delivery failure: stall loudly, commit nothing
            log.exception(
                "KafkaSource %s: %s/%d offset %d failed; partition stalled",
                self.name,
                record.topic,
                record.partition,
                record.offset,
            )
            self.error = f"{record.topic}/{record.partition}@{record.offset}: {exc!r}"
            return False

    # -- poll thread -----------------------------------------------------------------------
    def _poll_loop(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        next_commit = time.monotonic() + self._commit_interval
        next_replay_check = 0.0
        last_error = 0.0
        stranded = StrandedWatch(self.source, self)
        try:
            while not self._stop.is_set():
                try:
                    # while a partition waits for its queue to drain, come back soon to resume it
                    timeout = 5 if self._flow_paused and not self.paused else POLL_TIMEOUT_MS
                    records = consumer.poll(timeout_ms=timeout)
                    release_parked_records(consumer)
                    self._reconcile(consumer)
                    stranded.check(consumer)
                    if self._replays is not None and time.monotonic() >= next_replay_check:
                        records = self._take_replays(consumer, records)
                        next_replay_check = time.monotonic() + REPLAY_CHECK_SECONDS
                    for tp, batch in records.items():
                        partition = self._partitions.get(tp)
                        if partition is not None:
                            partition.enqueue(batch)
                    self._flow_control(consumer)
                    if time.monotonic() >= next_commit:
                        self._commit(consumer, sync=False)
                        self._update_lag(consumer)
                        next_commit = time.monotonic() + self._commit_interval
                except Exception as exc:
                    if time.monotonic() - last_error > 10:
                        log.exception("KafkaSource %s: poll failed, retrying", self.name)
                        last_error = time.monotonic()
                    self.error = repr(exc)
                    self._stop.wait(1.0)
        finally:
            self._shutdown(consumer)

    def _reconcile(self, consumer: KafkaConsumer) -> None:
        assigned = consumer.assignment() or set()
        with self._lock:
            lost, self._lost = self._lost, set()
            for tp in list(self._partitions):
                if tp in lost or tp not in assigned:
                    self._drop_partition(tp)
            for tp in assigned - self._partitions.keys():
                partition = self._partitions[tp] = PartitionWorker(tp, self)
                partition.thread.start()
        if assigned:
            self._assigned.set()

    def _take_replays(self, consumer: KafkaConsumer, records: dict[Any, Any]) -> dict[Any, Any]:
        """Seek a topic back for a replay request: listed partitions to their offset, others
        to the beginning. Queued and just-fetched records of the topic are dropped; a record
        in flight finishes (pause the source first for an exact replay, see coelho.recovery)."""
        assert self._replays is not None
        if not self._assigned.is_set():
            return records  # requests wait until the partitions are ours
        for topic in self.source.topics:
            offsets = self._replays(topic)
            if offsets is None:
                continue
            with self._lock:
                partitions = [tp for tp in self._partitions if tp.topic == topic]
                for tp in partitions:
                    self._drop_partition(tp)  # a fresh worker is made by the next reconcile
            for tp in partitions:
                consumer.resume(tp)  # flow control re-pauses it if the source is paused
                if tp.partition in offsets:
                    consumer.seek(tp, offsets[tp.partition])
                else:
                    consumer.seek_to_beginning(tp)
            records = {tp: batch for tp, batch in records.items() if tp.topic != topic}
            log.warning("KafkaSource %s: replaying %s from %s (recovery request)",
                        self.name, topic, offsets)  # fmt: skip
        return records

    def _drop_partition(self, tp: TopicPartition) -> None:
        partition = self._partitions.pop(tp)
        partition.retire()
        self._retired = [p for p in self._retired if p.thread.is_alive()] + [partition]
        self._flow_paused.discard(tp)
        self._committed.pop(tp, None)

    def _flow_control(self, consumer: KafkaConsumer) -> None:
        wanted = set()
        for tp, partition in self._partitions.items():
            backlog = partition.backlog()
            if (
                self.paused
                or backlog >= self._high_water
                or (tp in self._flow_paused and backlog > self._low_water)
            ):
                wanted.add(tp)
        if wanted - self._flow_paused:
            consumer.pause(*(wanted - self._flow_paused))
        if self._flow_paused - wanted:
            consumer.resume(*(self._flow_paused - wanted))
        self._flow_paused = wanted

    def _offsets(
        self, only: set[TopicPartition] | None = None, *, force: bool = False
    ) -> dict[Any, Any]:
        """Finished prefixes not committed yet (``force``: all, in case an async commit failed)."""
        with self._lock:
            parts = list(self._partitions.items())
        offsets = {}
        for tp, partition in parts:
            nxt = partition.tracker.committable()
            if nxt is None or (only is not None and tp not in only):
                continue
            if force or self._committed.get(tp) != nxt:
                offsets[tp] = OffsetAndMetadata(nxt, "", -1)
        return offsets

    def _commit(self, consumer: KafkaConsumer, *, sync: bool) -> None:
        offsets = self._offsets(force=sync)
        if not offsets:
            return
        if sync:
            consumer.commit(offsets)
        else:
            consumer.commit_async(offsets, callback=self._on_commit)
        self._committed.update({tp: o.offset for tp, o in offsets.items()})

    def _on_commit(self, offsets: dict[Any, Any], response: Any) -> None:
        if isinstance(response, Exception):
            log.warning("KafkaSource %s: commit failed (%s); will retry", self.name, response)
            for tp in offsets:
                self._committed.pop(tp, None)

    def commit_revoked(self, revoked: set[TopicPartition]) -> None:
        """Rebalance listener (IO thread): commit what is finished, without blocking."""
        offsets = self._offsets(revoked)
        if offsets and self._consumer is not None and not self._stop.is_set():
            try:
                self._consumer.commit_async(offsets, callback=self._on_commit)
                self._committed.update({tp: o.offset for tp, o in offsets.items()})
            except Exception:
                log.warning("KafkaSource %s: commit on revocation failed", self.name, exc_info=True)

    def mark_lost(self, lost: set[TopicPartition]) -> None:
        """Rebalance listener: the group evicted us; positions restart from the last commit."""
        with self._lock:
            self._lost |= lost

    def _update_lag(self, consumer: KafkaConsumer) -> None:
        lag: dict[str, int | None] = {}
        with self._lock:
            parts = list(self._partitions.items())
        for tp, partition in parts:
            try:
                highwater = consumer.highwater(tp)
            except Exception:
                highwater = None
            done = partition.tracker.committable()
            lag[f"{tp.topic}/{tp.partition}"] = (
                None if highwater is None or done is None else max(highwater - done, 0)
            )
        self._lag = lag

    def _shutdown(self, consumer: KafkaConsumer) -> None:
        """Stop taking records, let in-flight ones finish within the grace, commit, close."""
        with self._lock:
            partitions = list(self._partitions.values())
        for partition in partitions:
            partition.retire()
        deadline = time.monotonic() + self._stop_grace
        for partition in partitions + self._retired:
            partition.thread.join(max(0.0, deadline - time.monotonic()))
        if self.executor is not None:
            while time.monotonic() < deadline and any(p.tracker.in_flight() for p in partitions):
                time.sleep(0.05)
            self.executor.shutdown(wait=False, cancel_futures=True)
        try:
            self._commit(consumer, sync=True)
        except Exception:
            log.exception("KafkaSource %s: final commit failed", self.name)
        try:
            consumer.close(autocommit=False)
        except Exception:
            log.warning("KafkaSource %s: close failed", self.name, exc_info=True)
        log.info(
            "KafkaSource %s: stopped, committed %s",
            self.name,
            {f"{tp.topic}/{tp.partition}": o for tp, o in self._committed.items()},
        )

    # -- status ----------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            parts = sorted(self._partitions.items())
        partitions = {
            f"{tp.topic}/{tp.partition}": {
                "committed": self._committed.get(tp),
                "in_flight": p.tracker.in_flight(),
                "queued": p.backlog(),
                "lag": self._lag.get(f"{tp.topic}/{tp.partition}"),
            }
            for tp, p in parts
        }
        return {
            "paused": self.paused,
            "ordering": self.source.ordering,
            "consumer_group": self.source.consumer_group,
            "partitions": partitions,
            "lag": {name: info["lag"] for name, info in partitions.items()},
            **self.counters.snapshot(),
            "error": self.error,
        }
