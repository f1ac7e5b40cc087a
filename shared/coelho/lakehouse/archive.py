"""Copy a domain's Redis log into its Delta table, each entry exactly once.

One ``DomainArchive.run`` (what an archive tick does per domain) repeats, until the log is
drained or its time budget is spent:

1. refresh the table and read its cursor: the txn version of app id ``coelho-archive``
   (coelho.lakehouse.cursor), i.e. the last log id the table holds;
2. read the next ``batch`` log entries strictly after the cursor, together with the stream's
   ``entries-added`` counter (one MULTI, so the two agree);
3. append them as one Delta commit carrying ``txn(coelho-archive, last id)``, based on the
   version read in 1 and with no automatic retry: if anything else committed meanwhile (a
   second archiver, an optimize), the put-if-absent of the commit file fails, nothing is
   written, and the loop goes back to 1;
4. mirror the new cursor into Redis (``coelho:<d>:archive``), which is what checkpoints
   never trim past. The mirror may lag the table (a crash between 3 and 4), never lead it.

A batch that was committed but not acknowledged (a crash, a timeout) is simply not read again:
the next pass starts after the cursor the commit itself recorded.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from coelho.domains import Domain
from coelho.lakehouse import cursor
from coelho.lakehouse.schema import PARTITION, TableLayout
from coelho.lakehouse.storage import Storage
from coelho.state.keys import Keys
from coelho.state.log import _entry as parse_entry

log = logging.getLogger(__name__)

APP_ID = "coelho-archive"
# KEYS: archive hash. ARGV: position, then field/value pairs. The mirror only moves forward.
_MIRROR = """
local old = redis.call('HGET', KEYS[1], 'position') or '0-0'
local a, b = string.match(old, '(%d+)-(%d+)')
local c, d = string.match(ARGV[1], '(%d+)-(%d+)')
if tonumber(c) < tonumber(a) or (tonumber(c) == tonumber(a) and tonumber(d) < tonumber(b)) then
  return 0
end
redis.call('HSET', KEYS[1], 'position', ARGV[1], unpack(ARGV, 2))
return 1
"""


@dataclass
class RunReport:
    domain: str
    archived: int = 0
    batches: int = 0
    conflicts: int = 0
    position: str = cursor.START
    table_version: int = -1
    table_rows: int = 0
    lag_events: int | None = None
    lag_seconds: float = 0.0
    drained: bool = False
    gap: bool = False
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "extra"} | self.extra


class DomainArchive:
    """The archive of one domain: its table on S3 and its log in Redis."""

    def __init__(self, domain: Domain, client: redis.Redis, storage: Storage) -> None:
        self.domain = domain
        self.client = client
        self.storage = storage
        self.layout = TableLayout(domain)
        self.keys = Keys(domain.key)
        self.uri = storage.table_uri(domain.table)
        self._mirror = client.register_script(_MIRROR)
        self._table: Any = None

    # -- the table ---------------------------------------------------------------------------
    def table(self) -> Any:
        """The Delta table, created empty (schema and partitioning) on first use."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        if self._table is None:
            try:
                self._table = DeltaTable(self.uri, storage_options=self.storage.options)
            except TableNotFoundError:
                self._table = DeltaTable.create(
                    self.uri, self.layout.schema, mode="ignore", partition_by=[PARTITION],
                    name=self.domain.table, storage_options=self.storage.options,
                    description=f"Every event the {self.domain.key} learn function acknowledged",
                )  # fmt: skip
        else:
            self._table.update_incremental()
        return self._table

    def run(self, budget_seconds: float, batch: int) -> RunReport:
        """Archive until the log is drained or ``budget_seconds`` have passed."""
        from deltalake import CommitProperties, Transaction, write_deltalake
        from deltalake.exceptions import CommitFailedError

        started = time.monotonic()
        report = RunReport(self.domain.key)
        while True:
            table = self.table()
            position = cursor.from_version(table.transaction_version(APP_ID))
            report.position, report.table_version = position, table.version()
            info, entries = self._read(position, batch)
            report.gap = report.gap or _gap(info, position)
            _check_not_behind(info, position, self.keys.log)
            if not entries:
                report.drained = True
                self._publish(report, table, info, appended=0)
                break
            rows = self.layout.rows(entries)
            last = entries[-1].entry_id
            props = CommitProperties(
                max_commit_retries=0,
                app_transactions=[Transaction(APP_ID, cursor.to_version(last))],
                custom_metadata={"coelho.log_first": entries[0].entry_id, "coelho.log_last": last},
            )
            try:
                write_deltalake(table, rows, mode="append", partition_by=[PARTITION],
                                commit_properties=props)  # fmt: skip
            except CommitFailedError:
                # Someone committed this version first: ours is not in the log (its Parquet
                # files are orphans, which vacuum deletes); re-read the cursor and go again.
                report.conflicts += 1
                self._table = None
                if time.monotonic() - started > budget_seconds:
                    break
                continue
            report.archived += len(entries)
            report.batches += 1
            report.position, report.table_version = last, table.version()
            report.drained = len(entries) < batch
            self._publish(report, table, info, appended=len(entries))
            if report.drained or time.monotonic() - started > budget_seconds:
                break
        report.seconds = time.monotonic() - started
        return report

    # -- Redis -------------------------------------------------------------------------------
    def _read(self, position: str, batch: int) -> tuple[dict[str, Any], list[Any]]:
        """The next entries after ``position`` and the stream's info, read atomically."""
        if not self.client.exists(self.keys.log):
            return {}, []
        pipe = self.client.pipeline(transaction=True)
        pipe.xinfo_stream(self.keys.log)
        pipe.xrange(self.keys.log, min=f"({position}", count=batch)
        info, raw = pipe.execute()
        return info, [parse_entry(entry_id, fields) for entry_id, fields in raw]

    def _publish(self, report: RunReport, table: Any, info: dict[str, Any], appended: int) -> None:
        """Mirror the cursor, the table's row count and the archive's ordinal into Redis.

        ``ordinal`` is the stream's ``entries-added`` value at the cursor: known exactly when a
        read reached the end of the stream, then carried forward batch by batch (entries after
        the cursor are never trimmed, so a batch of n entries moves it by exactly n). With it,
        ``coelho status`` computes the lag as ``entries-added - ordinal`` in O(1).
        """
        report.table_rows = table_rows(table)
        fields: dict[str, Any] = {"version": report.table_version, "rows": report.table_rows,
                                  "updated_at": time.time()}  # fmt: skip
        mirror = {k.decode(): v.decode() for k, v in self.client.hgetall(self.keys.archive).items()}
        added = int(info.get("entries-added", 0) or 0) if info else 0
        last_generated = _decode(info.get("last-generated-id")) if info else cursor.START
        if report.drained and (appended == 0 or report.position == last_generated):
            ordinal: int | None = added
        elif mirror.get("ordinal") and appended:
            ordinal = int(mirror["ordinal"]) + appended
        else:
            ordinal = None
        if ordinal is not None:
            fields["ordinal"] = ordinal
            report.lag_events = max(0, added - ordinal)
        elif appended and "ordinal" in mirror:
            self.client.hdel(self.keys.archive, "ordinal")
        report.lag_seconds = self.oldest_unarchived_age(report.position)
        args = [report.position, *(str(v) for kv in fields.items() for v in kv)]
        self._mirror(keys=[self.keys.archive], args=args)

    def oldest_unarchived_age(self, position: str) -> float:
        first = self.client.xrange(self.keys.log, min=f"({position}", count=1)
        if not first:
            return 0.0
        ms, _ = cursor.split(_decode(first[0][0]))
        return max(0.0, time.time() - ms / 1000)


def table_rows(table: Any) -> int:
    """Rows in the table's current version, from the log's file statistics (no data read)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    actions = pa.table(table.get_add_actions(flatten=True))
    if actions.num_rows == 0:
        return 0
    return int(pc.sum(actions["num_records"]).as_py() or 0)


def _gap(info: dict[str, Any], position: str) -> bool:
    """True when entries after ``position`` were trimmed before the archive read them (the
    guard was off, or the archive started after the log had been trimmed): they are lost
    to the table, and the run reports it instead of pretending."""
    if not info:
        return False
    deleted = _decode(info.get("max-deleted-entry-id") or b"0-0")
    return cursor.before(position, deleted)


def _check_not_behind(info: dict[str, Any], position: str, log_key: str) -> None:
    """Refuse to run when the log holds entries but its newest id is below the cursor: a Redis
    that lost its data came back with a clock behind the archive, and its new entries would be
    skipped silently. This needs an operator, not a retry."""
    if info and int(info.get("length", 0) or 0) > 0:
        newest = _decode(info.get("last-generated-id") or b"0-0")
        if cursor.before(newest, position):
            raise RuntimeError(
                f"{log_key}: newest entry {newest} is below the archive cursor {position}; "
                "the log restarted with an older clock, so its entries would never be archived"
            )


def _decode(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
