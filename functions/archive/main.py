"""Archive function: a PingSource tick in, each domain's new log entries into its Delta table.

Exactly once per event (coelho.lakehouse); see coelho.handlers.archive for the HTTP contract.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from coelho.handlers.archive import ArchiveService
from coelho.handlers.http import Response

service = ArchiveService()


@functions_framework.http
def main(request: Request) -> Response:
    return service.handle(request)
