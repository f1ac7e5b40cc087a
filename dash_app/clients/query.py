"""POST SQL to the query function and explain any failure (what the SQL pages call).

The query function answers ``{columns, rows, row_count, truncated, elapsed_ms, engine}``; a
refused query is a 400 naming the problem, a table the archive has not written yet a 404.
"""

from __future__ import annotations

from typing import Any

import requests

from dash_app.clients.http import json_body, session, short
from dash_app.clients.predict import Outcome
from dash_app.clients.problem import Problem
from dash_app.config import DashConfig

NAME = "query"
# A query may run up to the function's own time limit (COELHO_QUERY_TIMEOUT_SECONDS, 10 s)
# after a cold start; wait longer than the dashboard's usual timeout.
TIMEOUT_FLOOR_S = 30.0


def run_sql(config: DashConfig, table: str, sql: str) -> Outcome:
    """``POST {"table", "sql"}`` to the query function; never raises."""
    base = config.function_url(NAME)
    if base is None:
        return Outcome(None, problem=Problem(
            "The query function is not configured",
            "No address for query: start the local stack (services.json) or set COELHO_URL_QUERY.",
        ))  # fmt: skip
    url = f"{base}/"
    try:
        response = session().post(url, json={"table": table, "sql": sql},
                                   timeout=max(config.timeout_s, TIMEOUT_FLOOR_S))  # fmt: skip
    except requests.Timeout:
        return Outcome(url, problem=Problem(
            "The query did not finish in time",
            "No answer in time: the query function may be starting (scaled to zero) or busy.",
            level="warning",
        ))  # fmt: skip
    except requests.ConnectionError:
        return Outcome(url, problem=Problem(
            "The query function is down", f"Nothing answers at {base}."
        ))  # fmt: skip
    except requests.RequestException as exc:
        return Outcome(url, problem=Problem("The query could not be sent", short(str(exc))))
    body: dict[str, Any] | None = json_body(response)
    status = response.status_code
    if status == 200 and body is not None and "rows" in body:
        return Outcome(url, body=body, status=status)
    message = str((body or {}).get("message") or short(response.text) or response.reason)
    if status == 400:
        problem = Problem("The query was refused", message)
    elif status == 404:
        problem = Problem("No data yet", message, level="warning")
    else:
        problem = Problem(f"The query function answered HTTP {status}", message)
    return Outcome(url, problem=problem, status=status)
