"""Query function: one SELECT over a lakehouse table, DuckDB on its Arrow dataset, locked down.

See coelho.handlers.query for the HTTP contract and coelho.lakehouse.sql for the safety rules.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from coelho.handlers.http import Response
from coelho.handlers.query import QueryService

service = QueryService()


@functions_framework.http
def main(request: Request) -> Response:
    return service.handle(request)
