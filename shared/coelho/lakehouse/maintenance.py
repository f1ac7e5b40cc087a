"""Table upkeep on a schedule (the ``archive-maintenance`` PingSource, hourly).

Each archive tick adds one small Parquet file per partition; ``optimize.compact`` rewrites
them into large files (a commit that removes and adds the same rows, ``dataChange=false``, so
readers and the archive's cursor are unaffected), and ``vacuum`` deletes files no version newer
than ``COELHO_ARCHIVE_VACUUM_HOURS`` still references. An archive commit racing a compaction
loses the put-if-absent race at worst and is retried from a fresh cursor
(coelho.lakehouse.archive), so the two never need to be kept apart.
"""

from __future__ import annotations

from typing import Any

from coelho.lakehouse.archive import DomainArchive, table_rows

# delta-rs refuses a vacuum retention under the table's default (7 days) unless told that
# the caller knows there is no reader that old; ours read the latest version only.
DEFAULT_RETENTION_HOURS = 168.0


def maintain(archive: DomainArchive, vacuum_hours: float) -> dict[str, Any]:
    table = archive.table()
    before = table.version()
    compacted = table.optimize.compact()
    vacuumed = table.vacuum(
        retention_hours=int(vacuum_hours),
        dry_run=False,
        enforce_retention_duration=vacuum_hours >= DEFAULT_RETENTION_HOURS,
    )
    table.update_incremental()
    return {
        "version_before": before,
        "version": table.version(),
        "files_removed": int(compacted.get("numFilesRemoved", 0)),
        "files_added": int(compacted.get("numFilesAdded", 0)),
        "vacuumed_files": len(vacuumed),
        "rows": table_rows(table),
    }
