"""The kafka-python side of a KafkaSource: the consumer, its rebalance listener, one workaround.

The consumer never auto-commits (``SourceRunner`` commits finished prefixes only) and starts at
``spec.initialOffset`` when the group has no committed offset, as Knative does.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener

from coelho.eventing.model import KafkaSource

log = logging.getLogger(__name__)

# kafka-python's group leader assigns only the partitions its metadata knows. A topic created
# just before the group forms can be missing from it ("No partition metadata for topic"),
# leaving the group with nothing assigned until the next metadata refresh: 5 minutes by
# default. Refreshing every 5 s lets the leader see the topic and rejoin quickly. (Fetching
# the metadata explicitly before subscribing was tried: it broke pause/resume flow control.)
METADATA_MAX_AGE_MS = 5000
# How long this consumer may hold no partition while its metadata knows the topics' partitions
# before StrandedWatch rejoins the group; doubled after each rejoin, up to MAX_STRANDED_SECONDS.
STRANDED_SECONDS = 10.0
MAX_STRANDED_SECONDS = 300.0


class Runner(Protocol):
    """What the listener needs from its SourceRunner."""

    name: str

    def commit_revoked(self, revoked: set[Any]) -> None: ...

    def mark_lost(self, lost: set[Any]) -> None: ...


def subscribe(
    source: KafkaSource, bootstrap: str, runner: Runner, options: dict[str, Any]
) -> KafkaConsumer:
    """A consumer in ``spec.consumerGroup`` subscribed to ``spec.topics`` (raises if Kafka is
    unreachable)."""
    consumer = KafkaConsumer(
        **{
            "bootstrap_servers": bootstrap,
            "group_id": source.consumer_group,
            "client_id": f"coelho-eventing-{source.meta.name}",
            "enable_auto_commit": False,
            "auto_offset_reset": source.initial_offset,
            "session_timeout_ms": 10000,
            "heartbeat_interval_ms": 1000,
            "metadata_max_age_ms": METADATA_MAX_AGE_MS,
            **options,
        }
    )
    consumer.subscribe(topics=list(source.topics), listener=_Listener(runner))
    return consumer


def release_parked_records(consumer: KafkaConsumer) -> None:
    """Work around a kafka-python 3.0.12 fetcher bug that stalls a resumed partition forever.

    Records fetched for a partition while it is paused are parked and restored only when the
    fetcher's in-line slot ``_next_partition_records`` is None; but a fully drained batch stays
    in that slot (it is falsy, not None), and a parked partition is never fetched again. Seen
    here as a partition stuck at a 500-record boundary after flow control paused it. Clearing a
    drained (falsy) slot is what the fetcher itself would do next; anything else is left alone.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    current = getattr(fetcher, "_next_partition_records", None)
    if current is not None and not current:
        fetcher._next_partition_records = None  # type: ignore[union-attr]


class StrandedWatch:
    """Rejoin the group when it left this consumer with nothing although the topics have
    partitions.

    kafka-python is meant to rejoin by itself once a metadata refresh shows partitions that
    its leader's assignment lacked, but in about one whole-path test run in five a source still
    had nothing assigned after 180 s. Polled from the consumer's thread. A member that another
    consumer of the group legitimately leaves idle would rejoin too, hence the doubling wait.
    """

    def __init__(self, source: KafkaSource, runner: Runner) -> None:
        self.source = source
        self.runner = runner
        self.wait = STRANDED_SECONDS
        self._since: float | None = None

    def check(self, consumer: KafkaConsumer) -> bool:
        """True if it made the consumer rejoin."""
        if consumer.assignment() or not self._partitions_known(consumer):
            self._since = None
            return False
        now = time.monotonic()
        if self._since is None:
            self._since = now
            return False
        if now - self._since < self.wait:
            return False
        log.warning(
            "KafkaSource %s: nothing assigned for %.0f s although %s have partitions; rejoining",
            self.runner.name, now - self._since, list(self.source.topics),
        )  # fmt: skip
        consumer.unsubscribe()
        consumer.subscribe(topics=list(self.source.topics), listener=_Listener(self.runner))
        self._since = None
        self.wait = min(self.wait * 2, MAX_STRANDED_SECONDS)
        return True

    def _partitions_known(self, consumer: KafkaConsumer) -> bool:
        # The consumer's own metadata cache: partitions_for_topic() could fetch, and fetching
        # metadata outside poll() was seen to break pause/resume (see METADATA_MAX_AGE_MS).
        cluster = consumer._client.cluster
        return any(cluster.partitions_for_topic(t) for t in self.source.topics)


class _Listener(ConsumerRebalanceListener):
    """Forwards rebalances to the runner; runs on kafka-python's IO thread, so never blocks."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.runner.commit_revoked(set(revoked))

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info(
            "KafkaSource %s: assigned %s",
            self.runner.name,
            sorted(f"{tp.topic}/{tp.partition}" for tp in assigned),
        )

    def on_partitions_lost(self, lost: Any) -> None:
        self.runner.mark_lost(set(lost))
