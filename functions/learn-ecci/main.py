"""Learn function for E-Commerce Customer Interactions: CloudEvent in, 202 out.

The event is validated and appended to the domain's log; this function's writer process (or
another replica's) applies it to the model. See coelho.state for why.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from coelho.handlers.http import Response
from coelho.handlers.learn import LearnService

service = LearnService("ecci")


@functions_framework.http
def main(request: Request) -> Response:
    return service.handle(request)
