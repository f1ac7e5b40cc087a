"""Redis key layout of one domain; the only place key names are spelled."""

from __future__ import annotations

from dataclasses import dataclass

DEAD_LETTERS = "coelho:deadletters"


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
        """Dedupe marker of one CloudEvent (source, id)."""
        return self._k(f"seen:{digest}")

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
    def snapshot(self) -> str:
        """Hash: state_version, registered_version, run_id of the last MLflow snapshot; the
        champion's metrics (for the writer's guard); ``reset`` while a reset is unregistered."""
        return self._k("snapshot")

    @property
    def snapshot_lock(self) -> str:
        """Held (with a TTL) by the snapshot function while it registers this domain."""
        return self._k("snapshot:lock")
