"""The query function: untrusted SQL over one lakehouse table, answered as JSON.

``POST /`` with ``{"table": "<delta table>", "sql": "SELECT ...", "limit": N}`` answers
``{columns, rows, row_count, truncated, elapsed_ms, engine}``; everything refused is a 400
naming the problem (coelho.lakehouse.sql), an unknown or empty table a 404.
``GET /tables`` lists the tables; ``GET /tables/<table>`` gives schema, version and row count.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Request
from prometheus_client import Counter, Histogram

from coelho.errors import CoelhoError, InvalidEvent
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.lakehouse.catalog import Catalog, tables
from coelho.lakehouse.sql import Limits, run_query
from coelho.lakehouse.storage import Storage
from coelho.settings import LakehouseSettings

log = logging.getLogger(__name__)

SQL_QUERIES = Counter(
    "coelho_sql_queries", "SQL queries by outcome (ok, refused, not_found, error)",
    ["table", "outcome"],
)  # fmt: skip
SQL_SECONDS = Histogram(
    "coelho_sql_query_seconds", "Time to answer one SQL query", ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)  # fmt: skip


class QueryService:
    def __init__(self, settings: LakehouseSettings | None = None) -> None:
        self.settings = settings or LakehouseSettings.from_env()
        self.catalog = Catalog(Storage(self.settings))

    def ready(self) -> tuple[bool, str]:
        return True, f"tables {sorted(tables())}"

    def limits(self, body: dict[str, Any]) -> Limits:
        cap = self.settings.query_max_rows
        limit = body.get("limit", cap)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= cap:
            raise InvalidEvent("limit", f"expected an integer from 1 to {cap}, got {limit!r}")
        return Limits(max_rows=limit, timeout_seconds=self.settings.query_timeout_seconds,
                      memory=self.settings.query_memory)  # fmt: skip

    def query(self, request: Request) -> Response:
        started = time.perf_counter()
        table = "unknown"
        try:
            body = _json_object(request.get_data())
            domain = self.catalog.domain(body.get("table"))
            table = domain.table
            sql = body.get("sql")
            if not isinstance(sql, str):
                raise InvalidEvent("sql", f"expected a string, got {type(sql).__name__}")
            answer = run_query(self.catalog.dataset(table), sql, self.limits(body))
        except CoelhoError as exc:
            outcome = "not_found" if exc.status == 404 else "refused"
            SQL_QUERIES.labels(table, outcome).inc()
            return error_response(exc)
        except Exception as exc:  # noqa: BLE001 - S3 or delta-rs failures: say so, don't crash
            log.exception("query on %s failed", table)
            SQL_QUERIES.labels(table, "error").inc()
            return json_response({"error": type(exc).__name__, "message": str(exc)[:500]}, 503)
        SQL_QUERIES.labels(table, "ok").inc()
        SQL_SECONDS.labels(table).observe(time.perf_counter() - started)
        return json_response({"table": table, **answer})

    def describe(self, path: str) -> Response:
        name = path.removeprefix("/tables").strip("/")
        try:
            if not name:
                listing = [{"table": t, "domain": d.key, "uri": self.catalog.storage.table_uri(t)}
                           for t, d in sorted(tables().items())]  # fmt: skip
                return json_response({"tables": listing})
            return json_response(self.catalog.describe(name))
        except CoelhoError as exc:
            return error_response(exc)

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        if request.method == "GET" and (path == "/tables" or path.startswith("/tables/")):
            return self.describe(path)
        return route(request, self.query, self.ready)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except ValueError as exc:
        raise InvalidEvent("body", f"not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidEvent("body", 'expected a JSON object {"table", "sql", "limit"}')
    return body
