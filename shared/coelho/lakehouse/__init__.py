"""The lakehouse: every acknowledged event archived once to Delta Lake on S3, and SQL over it.

Why Delta on S3: it is the contract, not a private format. Spark, Trino, DuckDB or polars read
``s3://delta-lake/<table>`` directly; the next step (batch models) reads the same tables.

**Layout.** One table per domain, named by the domain module (``Domain.table``), in bucket
``delta-lake``, partitioned by ``event_date``; columns derived from the domain's ``FieldSpec``s
plus the event's CloudEvent id and source, Kafka position, log id and ingestion time
(``schema``). Dead-lettered records go to bucket ``raw-data`` as JSON lines with their reasons
(``deadletters``).

**Archive, exactly once** (``archive``, run by the archive function on a PingSource tick). The
source is the domain's Redis log (coelho.state), which holds each acknowledged event exactly
once. The table carries its own cursor: every commit includes a Delta application transaction
``txn(appId="coelho-archive", version=<last log id in the batch>)`` (``cursor`` packs the stream
id into the version). A pass reads the table's version V and its cursor C, reads the log
entries after C, and commits them as version V+1 with no automatic retry. Invariants:

1. *Nothing twice.* A commit lands only as version V+1 of the snapshot its cursor was read
   from: the commit file is written put-if-absent, so if anything else committed V+1 first
   (another archiver, a compaction), this commit fails whole and the pass re-reads the cursor.
   A batch whose commit landed but whose caller crashed is never read again, because the
   cursor moved in the same commit as the rows.
2. *Nothing lost.* The rows of a batch are exactly the log entries after the cursor, in log
   order, and the log is never trimmed past the archive: checkpoints (coelho.state.checkpoint)
   trim to the minimum of their own position, their retention window and the archive cursor
   mirrored in Redis (``coelho:<d>:archive`` ``position``, "0-0" until the first commit). The
   mirror is written after the commit and only moves forward, so it never leads the table.
   ``COELHO_ARCHIVE_GUARD=0`` turns the guard off for deployments without a lakehouse; a pass
   that finds entries trimmed before it read them reports a ``gap`` instead of pretending.
3. *Visible atomically.* Readers (the query function, any Delta reader) see whole commits.

**Upkeep** (``maintenance``, the hourly ``archive-maintenance`` PingSource): compaction of the
small per-tick files and vacuum of files older than ``COELHO_ARCHIVE_VACUUM_HOURS``.

**SQL** (``sql``, ``catalog``, the query function): one SELECT per request, decided by DuckDB's
parser, run on a locked-down in-memory DuckDB over the table's Arrow dataset (no extension, no
file or network access, no configuration change), with a row cap and a time limit.

The cursor assumes log ids only grow (Redis stream ids are its server's clock in ms); a pass
that finds a non-empty log whose newest id is below the cursor (a Redis that lost its data
came back with an older clock) fails loudly, which ``CoelhoArchiveFailed`` reports.

**Known limit.** After Redis loses its state and events are replayed from Kafka (coelho.recovery),
replayed events get new log ids and are archived again; deduplicate on ``(ce_source, ce_id)``
when reading across such an incident.
"""

from __future__ import annotations
