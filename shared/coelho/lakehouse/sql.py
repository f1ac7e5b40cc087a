"""Untrusted SQL over one Delta table: DuckDB on the table's Arrow dataset, locked down.

What a query has to get through, in order (each refusal is a ``QueryRefused``, a 400 that
names the problem):

1. **DuckDB's own parser** (``duckdb.extract_statements``): the text must parse, hold exactly
   one statement, and that statement's type must be ``SELECT``. DuckDB rewrites some PRAGMAs
   into a SELECT over a table function (``PRAGMA version``); its tokenizer's first keyword
   catches those: a SELECT must start with SELECT, WITH, FROM, VALUES, TABLE, DESCRIBE, SHOW,
   SUMMARIZE or a parenthesis.
2. **A connection locked before the query runs**: a fresh in-memory database per query,
   Python replacement scans off (a query cannot reach the server's variables by name), then
   ``enable_external_access=false`` (no file, URL, ATTACH, COPY, INSTALL or LOAD: ``read_csv``
   of ``/etc/passwd`` is a permission error), extension autoloading and autoinstall off,
   and ``lock_configuration=true`` last, so no ``SET`` can undo any of it. The only table is
   ``data``: the Delta table's current version as an Arrow dataset, which delta-rs reads from
   S3 itself, so DuckDB never holds a credential or needs an extension.
3. **Limits**: a timer interrupts the query after ``timeout`` seconds (a 400 naming the
   limit); rows beyond ``limit`` are not fetched and the answer says ``truncated`` (a capped
   result is an answer, not an error); ``memory_limit`` and ``threads`` bound the rest.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from coelho.errors import QueryRefused
from coelho.lakehouse.schema import jsonable

LEADING_KEYWORDS = frozenset(
    {"select", "with", "from", "values", "table", "describe", "show", "summarize"}
)
LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET allow_community_extensions = false",
    "SET lock_configuration = true",
)


@dataclass(frozen=True)
class Limits:
    max_rows: int
    timeout_seconds: float
    memory: str = "512MB"
    threads: int = 2


def check_select(sql: str) -> str:
    """The single SELECT statement in ``sql``, or ``QueryRefused`` saying what is wrong.

    >>> check_select("SELECT 1; ")
    'SELECT 1;'
    >>> check_select("DROP TABLE data")
    Traceback (most recent call last):
    ...
    coelho.errors.QueryRefused: only SELECT statements are allowed, got DROP
    """
    import duckdb

    if not isinstance(sql, str) or not sql.strip():
        raise QueryRefused("sql: empty query")
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"sql: does not parse: {_first_line(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused(f"exactly one statement is allowed, got {len(statements)}")
    (statement,) = statements
    kind = statement.type.name
    if kind != "SELECT":
        raise QueryRefused(f"only SELECT statements are allowed, got {kind}")
    # The user's own text: for a PRAGMA, ``statement.query`` is already DuckDB's rewrite.
    query = sql.strip()
    first = _first_token(query)
    if first not in LEADING_KEYWORDS and first != "(":
        raise QueryRefused(
            f"only SELECT statements are allowed, got {first.upper()} (rewritten by DuckDB "
            "into a SELECT)"
        )
    return query


def _first_token(query: str) -> str:
    import duckdb

    for start, kind in duckdb.tokenize(query):
        if kind == duckdb.token_type.comment:
            continue
        rest = query[start:]
        return rest[:1] if kind == duckdb.token_type.operator else rest.split(None, 1)[0].lower()
    return ""


def connect(dataset: Any, limits: Limits) -> Any:
    """A fresh DuckDB with ``data`` registered and every door closed (see module docstring)."""
    import duckdb

    con = duckdb.connect(":memory:", config={
        "threads": str(limits.threads), "memory_limit": limits.memory,
        "python_enable_replacements": False,
    })  # fmt: skip
    con.register("data", dataset)
    for statement in LOCKDOWN:
        con.execute(statement)
    return con


def run_query(dataset: Any, sql: str, limits: Limits) -> dict[str, Any]:
    """Run one checked SELECT over ``dataset`` as ``data``; the answer the query function sends."""
    import duckdb

    query = check_select(sql)
    started = time.perf_counter()
    con = connect(dataset, limits)
    timer = threading.Timer(limits.timeout_seconds, con.interrupt)
    timer.daemon = True
    timer.start()
    try:
        result = con.execute(query)
        columns = [{"name": d[0], "type": str(d[1])} for d in result.description or []]
        rows = result.fetchmany(limits.max_rows + 1)
    except duckdb.InterruptException:
        raise QueryRefused(
            f"query stopped: it ran past the time limit of {limits.timeout_seconds:g} s"
        ) from None
    except duckdb.Error as exc:
        raise QueryRefused(f"{type(exc).__name__}: {_first_line(exc)}") from None
    finally:
        timer.cancel()
        con.close()
    truncated = len(rows) > limits.max_rows
    rows = rows[: limits.max_rows]
    return {
        "columns": columns,
        "rows": [[jsonable(v) for v in row] for row in rows],
        "row_count": len(rows),
        "truncated": truncated,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
        "engine": f"duckdb {duckdb.__version__}",
    }


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
