"""Dead-letter sink: keeps every event the Broker gave up on, with its reason, in Redis."""

from __future__ import annotations

import functions_framework
from flask import Request

from coelho.handlers.deadletters import DeadLetterService
from coelho.handlers.http import Response

service = DeadLetterService()


@functions_framework.http
def main(request: Request) -> Response:
    return service.handle(request)
