"""Exactly-once model state in Redis: an idempotent log, signed checkpoints, one writer.

Why not "load blob, learn, save blob" per event: forest pickles reach 15 MB after 10k events
(2 events/s), and two replicas doing it lose about half of the updates (online-ml.md). So:

1. **Log.** A learn function validates an event and appends it to the domain's stream
   ``coelho:<d>:log`` with one Lua script that first records the CloudEvent (source, id) as
   seen: for a KafkaSource record (id ``partition:<p>/offset:<o>``) as an offset in the ranges
   kept per (source, partition), so memory grows with partitions, not events
   (``positions``); for any other id as a marker key with a TTL. A redelivered event is
   counted as a duplicate, never appended twice. Only after the append does the function
   answer 202; an event that was acknowledged is therefore durable in the log.
2. **Single writer.** Every learn function runs a ``DomainWriter`` in a child process
   (``sidecar``: off the request path's GIL), but only the holder of the lease
   ``coelho:<d>:lease`` (a random token with a TTL, renewed while alive) applies the log to its
   in-memory ``OnlineModel``, in log order, each entry exactly once. If it dies, the lease
   expires and another process takes over.
3. **Checkpoints.** The writer periodically stores the pickled model with an HMAC-SHA256 tag, the
   id of the last applied log entry and a version number, in one Lua script that refuses to write
   unless the caller still holds the lease (fencing), then trims the log before that id
   (never past the lakehouse archive's cursor, so every event also reaches its Delta table:
   coelho.lakehouse).
   A new writer loads the checkpoint, verifies the tag *before* unpickling, and replays the log
   after the stored position.
4. **Readers** (the dashboard, snapshots) read the checkpoint version and reload only when it
   moved; the version only grows. Predict replicas also apply the log after their checkpoint,
   re-basing on every new one (``coelho.replica``), so a prediction lags the stream by
   milliseconds rather than a checkpoint interval.

5. **Learning curve.** The writer also records a metric point every ``COELHO_CURVE_EVERY``
   events (fenced, before the checkpoint covering it) for the next snapshot run to log; a new
   writer drops the points after its checkpoint, a reset starts a new lineage (``curve``).

``coelho reset`` relies on exactly these properties to put a registered version back: it
takes the lease (fencing the writer out), saves the version as a new checkpoint at the log
position it covers, and lets a writer replay the log after it.

Invariants (each has a test): every acknowledged event is in the log or covered by a checkpoint;
a log entry is applied at most once per model lineage, because a checkpoint atomically records
the position it covers and a writer resumes strictly after it; no unverified bytes are unpickled;
a writer that lost its lease can no longer change the checkpoint.
"""

from __future__ import annotations

from coelho.state.checkpoint import Checkpoint, CheckpointStore
from coelho.state.keys import Keys
from coelho.state.log import AppendResult, EventLog
from coelho.state.writer import DomainWriter

__all__ = ["AppendResult", "Checkpoint", "CheckpointStore", "DomainWriter", "EventLog", "Keys"]
