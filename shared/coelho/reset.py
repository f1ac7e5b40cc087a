"""``coelho reset DOMAIN [--to champion|VERSION]``: a registered version becomes the live state
again, and everything the domain learned after it is learned again, exactly once.

The way out of a diverged live model (``coelho.guard``): put back a version known to be
good and re-learn the events since, with that version's pipeline. It reuses the state
invariants (``coelho.state``): a checkpoint records the log position it covers, a writer
resumes strictly after it, writes are fenced by the lease, and versions only grow.

1. **Fence.** ``reset`` takes the domain's lease with its own token (overwriting the
   holder's). The current writer's next renewal fails and it drops its in-memory model; any
   checkpoint it still tries to save is refused by the lease check. Nothing it does after this
   instant can reach Redis.
2. **Install.** The version's ``OnlineModel`` (HMAC verified) is saved as the checkpoint,
   fenced by reset's token, under a new, higher version: predict functions reload it.
3. **Replay**, by one of two paths:

   - **log** (the usual one): the version recorded the log position it covered
     (``coelho.position``) and the log still holds every entry after it (it keeps
     ``COELHO_LOG_RETENTION`` entries behind the checkpoint). The checkpoint is saved *at that
     position*, so the next writer applies exactly the entries after it, in the original
     order: the same events, each once, as if the lineage had continued from that version.
   - **kafka**: the log no longer reaches back that far (or the version predates
     ``coelho.position``). The source must be paused (``pause``; locally the CLI pauses the
     emulator's KafkaSource, on a cluster scale it to 0 first), the domain's dedupe state is
     dropped (markers, position ranges; the floors are set to the version's offsets:
     otherwise every redelivered record would count as a duplicate), the checkpoint is
     saved at the end of the log, the log before it is trimmed (the replay appends the events
     again, so older entries belong to an abandoned lineage: a later log-path reset must not
     see both), and a replay request from the version's Kafka offsets is filed
     (``coelho.recovery``), exactly as after a Redis loss. Same caveats as recovery:
     per-partition order only, and events that never came through Kafka are not replayed.
4. **Hand over.** The lease is released; a learn function's writer takes it, loads the
   installed checkpoint and replays.

A version the guard marked unhealthy is refused (``Refused``): resetting to a diverged state
would serve it again. The restored version re-learns with its *own* pipeline (hyper-parameters
are part of the pickle); to re-learn everything with the pipeline configured now (a lineage
started before a pipeline fix), reset to a fresh model (``--to scratch``): always the Kafka
path, every partition from the beginning, so it is exact only while Kafka still retains the
topic's first records.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from coelho.domains import get
from coelho.errors import Refused
from coelho.recovery import request_replay
from coelho.state.checkpoint import CheckpointStore
from coelho.state.curve import rebase
from coelho.state.keys import Keys
from coelho.state.positions import seed_floors

# The reset holds the lease for at most this long: if it dies half-way, a writer takes over
# from whichever checkpoint is in place (the old one, or the installed one: both consistent).
HOLD_MS = 30_000
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class ResetResult:
    domain: str
    version: int
    events_learned: int
    replay: str  # "log" or "kafka"
    position: str
    state_version: int
    replay_from: dict[str, Any] = field(default_factory=dict)


def _stream_id(raw: str) -> tuple[int, int]:
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


def log_covers(client: redis.Redis, domain: str, position: str | None) -> bool:
    """True when every log entry after ``position`` is still in the domain's log.

    The log is only ever trimmed from the front (``XTRIM MINID``), so it holds everything
    after ``position`` exactly when its oldest entry is at or before ``position``, or when it
    is empty and the current checkpoint covers no more than ``position``.
    """
    if not position or position == "0-0":
        return False
    keys = Keys(domain)
    oldest = client.xrange(keys.log, count=1)
    if oldest:
        return _stream_id(oldest[0][0].decode()) <= _stream_id(position)
    current = client.hget(keys.checkpoint, "position")
    return current is not None and _stream_id(current.decode()) <= _stream_id(position)


def reset(
    client: redis.Redis,
    domain: str,
    model: Any,
    version: int,
    position: str | None,
    key: bytes,
    *,
    log_retention: int,
    pause: Callable[[], None] | None = None,
    resume: Callable[[], None] | None = None,
) -> ResetResult:
    """Install ``model`` (registered ``version``, covering log ``position``) and arrange the
    replay (module doc). ``pause``/``resume`` are only called on the Kafka path."""
    keys = Keys(domain)
    store = CheckpointStore(client, domain, key, log_retention)
    via_log = log_covers(client, domain, position)
    offsets = model.offsets or ({get(domain).topic: {}} if model.events_learned == 0 else None)
    if not via_log and not offsets:
        raise Refused(
            f"{domain} version {version} cannot be replayed: the log no longer holds the events "
            "after it and it covers no Kafka offsets; choose a newer version"
        )
    if not via_log and pause is not None:
        pause()
    token = secrets.token_hex(16)
    client.set(keys.lease, token, px=HOLD_MS)  # fencing: the holder's token no longer matches
    release = client.register_script(_RELEASE)
    try:
        # Until the lease was ours the writer could still checkpoint, and trim the log.
        if via_log and not log_covers(client, domain, position):
            raise Refused(f"{domain}: the log was trimmed past version {version} meanwhile; "
                          "nothing was changed, run the reset again")  # fmt: skip
        if via_log:
            at = str(position)
        else:
            last = client.xrevrange(keys.log, count=1)
            end = last[0][0] if last else client.hget(keys.checkpoint, "position") or b"0-0"
            at = end.decode() if isinstance(end, bytes) else str(end)
        # A new lineage of the learning curve from the version (coelho.state.curve); first, so
        # no point of the abandoned lineage can ever be logged as the new one's.
        if not rebase(client, domain, token, model, version=str(version)):
            raise Refused(f"{domain}: the lease was taken while resetting; nothing was changed")
        state_version = store.save(model, at, model.events_learned, token)
        if state_version is None:
            raise Refused(f"{domain}: the lease was taken while resetting; nothing was changed")
        if via_log:
            replay_from: dict[str, Any] = {"after": at}
        else:
            # Only once the new lineage is in place: the replay's records must be appended
            # again, and the entries before ``at`` belong to the abandoned lineage (a later
            # log-path reset to an older version must not replay both copies).
            dropped = _drop_dedupe_markers(client, keys, offsets or {})
            if at != "0-0":
                client.xtrim(keys.log, minid=at, approximate=False)
            replay_from = {"offsets": request_replay(client, offsets, domain),
                           "dedupe_markers_dropped": dropped}  # fmt: skip
        # A new lineage: the snapshot function must register it even where its event count
        # matches the newest registered version's.
        client.hset(keys.snapshot, "reset", state_version)
        # The lag (appended - learned) of the new lineage: what it still has to learn.
        pending = len(client.xrange(keys.log, min=f"({at}")) if via_log else 0
        client.hset(keys.counters, "appended", model.events_learned + pending)
    finally:
        release(keys=[keys.lease], args=[token])
        if not via_log and resume is not None:
            resume()
    return ResetResult(domain, version, model.events_learned, "log" if via_log else "kafka",
                       at, state_version, replay_from)  # fmt: skip


def _drop_dedupe_markers(
    client: redis.Redis, keys: Keys, offsets: Mapping[str, Mapping[int, int]]
) -> int:
    """Forget what the domain has seen, so replayed records are appended again: every
    ``seen`` marker, every position range and the floors (coelho.state.positions), then set
    the floors to the offsets the restored version covers (records up to them are in it)."""
    dropped = 0
    batch: list[bytes] = []
    for pattern in (keys.seen("*"), keys.all_positions):
        for name in client.scan_iter(match=pattern, count=1000):
            batch.append(name)
            if len(batch) >= 1000:
                dropped += int(client.unlink(*batch))
                batch.clear()
    if batch:
        dropped += int(client.unlink(*batch))
    client.delete(keys.floors)
    seed_floors(client, keys.domain, offsets)
    return dropped
