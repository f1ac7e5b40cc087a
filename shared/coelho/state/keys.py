"""Redis key layout of one domain; the only place key names are spelled."""

from __future__ import annotations

from dataclasses import dataclass

DEAD_LETTERS = "coelho:deadletters"
# Hash: ``position``, the last dead-letter stream id copied to the raw-data bucket.
DEAD_LETTERS_ARCHIVE = "coelho:deadletters:archive"


@dataclass(frozen=True)
class Keys:
    domain: str

    def _k(self, suffix: str) -> str:
        return f"coelho:{self.domain}:{suffix}"

    @property
    def log(self) -> str:
        """Stream of accepted events, in the order the single writer applies them."""
        return self._k("log")

    def seen(self, digest: str) -> str:
        """Dedupe marker (with a TTL) of one CloudEvent (source, id) that has no Kafka position."""
        return self._k(f"seen:{digest}")

    def positions(self, source: str, partition: int) -> str:
        """Sorted set of the offset ranges of one KafkaSource partition already resolved
        (appended, or dead-lettered): member = first offset, score = last (state.positions)."""
        return self._k(f"pos:{partition}:{source}")

    @property
    def all_positions(self) -> str:
        """SCAN pattern of every ``positions`` set of the domain (coelho reset drops them)."""
        return self._k("pos:*")

    @property
    def floors(self) -> str:
        """Hash ``<topic>:<partition>`` -> the offset a restored snapshot covers (recovery)."""
        return self._k("floors")

    @property
    def checkpoint(self) -> str:
        """Hash: blob (HMAC-signed pickle), position (log id), version, events_learned."""
        return self._k("checkpoint")

    @property
    def lease(self) -> str:
        """The single writer's lease: a random token with a TTL."""
        return self._k("lease")

    @property
    def counters(self) -> str:
        """Hash: appended, duplicates_skipped, rejected, dead_lettered."""
        return self._k("counters")

    @property
    def stats(self) -> str:
        """Hash the writer refreshes after each batch: events_learned, metrics, offsets."""
        return self._k("stats")

    @property
    def history(self) -> str:
        """Capped stream of metric points for the dashboard's time series."""
        return self._k("history")

    @property
    def archive(self) -> str:
        """Hash mirroring the lakehouse archive's cursor (``position``, the last log id in the
        Delta table), which checkpoints never trim past; also its counts (coelho.lakehouse)."""
        return self._k("archive")

    @property
    def snapshot(self) -> str:
        """Hash: state_version, registered_version, run_id of the last MLflow snapshot; the
        champion's metrics (for the writer's guard); ``reset`` while a reset is unregistered."""
        return self._k("snapshot")

    @property
    def curve(self) -> str:
        """Sorted set of learning-curve points not yet in a snapshot run, score = events
        learned (coelho.state.curve)."""
        return self._k("curve")

    @property
    def curve_base(self) -> str:
        """Hash: where the waiting curve starts (the lineage id, events learned, offsets and
        run of the snapshot or restored version before it; coelho.state.curve)."""
        return self._k("curve:base")

    @property
    def snapshot_lock(self) -> str:
        """Held (with a TTL) by the snapshot function while it registers this domain."""
        return self._k("snapshot:lock")
