"""The lakehouse's tables by name, opened lazily and kept current (the query function's side).

A table is found by its Delta name (``domain.table``). Each request refreshes it with
``update_incremental`` (one LIST of the log) and hands DuckDB a fresh Arrow dataset of that
version, so a query sees every commit made before it started and nothing half-written.
"""

from __future__ import annotations

import threading
from typing import Any

from coelho import domains
from coelho.domains import Domain
from coelho.errors import TableNotFound
from coelho.lakehouse.schema import PARTITION
from coelho.lakehouse.storage import Storage


def tables() -> dict[str, Domain]:
    """Delta table name -> its domain, for every domain that declares one."""
    return {d.table: d for d in domains.REGISTRY.values() if d.table}


class Catalog:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._open: dict[str, Any] = {}
        self._lock = threading.Lock()

    def domain(self, table: Any) -> Domain:
        known = tables()
        if not isinstance(table, str) or table not in known:
            raise TableNotFound(f"table: unknown table {table!r}; expected one of {sorted(known)}")
        return known[table]

    def current(self, table: str) -> Any:
        """The ``DeltaTable`` at its latest version, or ``TableNotFound`` if never written."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        self.domain(table)
        with self._lock:
            opened = self._open.get(table)
            try:
                if opened is None:
                    uri = self.storage.table_uri(table)
                    opened = self._open[table] = DeltaTable(
                        uri, storage_options=self.storage.options
                    )
                else:
                    opened.update_incremental()
            except TableNotFoundError:
                raise TableNotFound(
                    f"table {table!r} holds no data yet: the archive has not written it"
                ) from None
            return opened

    def dataset(self, table: str) -> Any:
        current = self.current(table)
        with self._lock:
            return current.to_pyarrow_dataset()

    def describe(self, table: str) -> dict[str, Any]:
        """Schema, version and row count (from file statistics) of the table's latest version."""
        import pyarrow as pa

        from coelho.lakehouse.archive import table_rows

        domain = self.domain(table)
        current = self.current(table)
        with self._lock:
            arrow = pa.schema(current.schema().to_arrow())
            return {
                "table": table,
                "domain": domain.key,
                "uri": self.storage.table_uri(table),
                "version": current.version(),
                "columns": [{"name": f.name, "type": str(f.type), "nullable": f.nullable}
                            for f in arrow],
                "partition_columns": list(current.metadata().partition_columns or [PARTITION]),
                "row_count": table_rows(current),
                "files": len(current.file_uris()),
            }  # fmt: skip
