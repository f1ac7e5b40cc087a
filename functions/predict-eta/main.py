"""Predict function for Estimated Time of Arrival: JSON event in, answer + model version out.

The live model is loaded at import (before the port opens), so the first request is served
from memory; see coelho.serving for the sources and the staleness bound.
"""

from __future__ import annotations

import functions_framework
from flask import Request

from coelho.handlers.http import Response
from coelho.handlers.predict import PredictService

service = PredictService("eta")
service.warm()


@functions_framework.http
def main(request: Request) -> Response:
    return service.handle(request)
