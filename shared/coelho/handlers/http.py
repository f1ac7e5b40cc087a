"""Routing shared by every function: POST / to the domain, GETs to probes and metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Request

from coelho import telemetry
from coelho.errors import CoelhoError

Response = tuple[Any, int, dict[str, str]] | tuple[Any, int]
JSON = {"Content-Type": "application/json"}


def json_response(body: Any, status: int = 200) -> Response:
    return json.dumps(body), status, JSON


def error_response(error: CoelhoError) -> Response:
    return json_response(error.to_dict(), error.status)


def route(
    request: Request,
    post: Callable[[Request], Response],
    ready: Callable[[], tuple[bool, str]],
    writer_metrics: Callable[[], bytes | None] | None = None,
) -> Response:
    """Dispatch one request; unknown paths get 404 and wrong methods 405, both in JSON.

    ``writer_metrics`` supplies the exposition of a writer running in a child process (None
    until it has one: the in-process writer families are declared instead, without samples).
    """
    path = request.path.rstrip("/") or "/"
    if request.method == "GET":
        if path == "/health/liveness":
            return json_response({"status": "alive"})
        if path == "/health/readiness":
            ok, message = ready()
            return json_response({"ready": ok, "message": message}, 200 if ok else 503)
        if path == "/metrics":
            return telemetry.exposition(writer_metrics() if writer_metrics else None)
        return json_response({"error": "NotFound", "message": f"no route GET {path}"}, 404)
    if request.method == "POST" and path == "/":
        return post(request)
    return json_response(
        {"error": "MethodNotAllowed", "message": f"{request.method} {path} is not supported"}, 405
    )
