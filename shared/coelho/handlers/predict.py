"""The predict function: a JSON event in, the model's answer and its provenance out.

``POST /`` with the domain's event fields (ids, label and debug fields are not needed) answers
``{<prediction>, "model": {"source", "version", "updated_at", ...}}``. The model source is
chosen by the query parameter ``model`` or the header ``X-Coelho-Model`` (the query wins):
``live`` (default), ``champion``, ``latest`` or a registered version ``N`` (see
``coelho.serving``), or the scikit-learn model: ``batch`` (its champion) or ``batch:N``
(``coelho.batch.serving``; scikit-learn is imported only then). Errors: 400 naming the bad
field, 404 for an unknown version, 503 while no model exists or the registry is unreachable.

Guarded fallback: when the live model is unhealthy (``coelho.guard``: diverged or degraded,
as the writer recorded in the checkpoint) or its answer to this request is no number or far
outside the physical range, the answer comes from the ``champion`` and ``model.fallback``
says so and why: ``{"from": "live", "live_version": 41, "reason": "..."}``. With no champion
to fall back to the request fails with 503 rather than serve a diverged answer.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from flask import Request

from coelho import domains
from coelho.batch.serving import BatchSource
from coelho.errors import CoelhoError, InvalidEvent, ModelDiverged, ModelNotReady
from coelho.guard import OK, state_of
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.replica import LiveReplica
from coelho.serving import (
    PREDICT_FALLBACKS,
    PREDICT_LATENCY,
    PREDICT_REQUESTS,
    RegistrySource,
    Selector,
    Served,
)
from coelho.settings import Settings

log = logging.getLogger(__name__)

HEADER = "X-Coelho-Model"


class PredictService:
    """One domain's predict replica: a live source, registry sources, and the HTTP contract."""

    def __init__(self, domain: str, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.domain = domains.get(domain)
        self.client = redis.Redis.from_url(
            self.settings.redis_url, socket_connect_timeout=2, socket_timeout=5
        )
        self.live = LiveReplica(self.client, self.domain.key, self.settings)
        self.registry = RegistrySource(self.domain.key, self.settings.state_key)
        self.batch = BatchSource(self.domain.key, self.settings.state_key)

    def warm(self) -> None:
        """Load the live model now (at import), so the first request does not pay for it."""
        started = time.perf_counter()
        if self.live.reload():
            log.info("predict %s: warm in %.0f ms", self.domain.key,
                     (time.perf_counter() - started) * 1000)  # fmt: skip

    def ready(self) -> tuple[bool, str]:
        """Ready once a live model is loaded (the registry is optional)."""
        try:
            served = self.live.current()
        except CoelhoError as exc:
            return False, str(exc)
        return True, f"live model version {served.version} loaded"

    def selector(self, request: Request) -> Selector:
        raw = request.args.get("model")
        if raw is None and request.args.get("version") is not None:
            raw = f"version={request.args['version']}"
        return Selector.parse(raw if raw is not None else request.headers.get(HEADER))

    def source(self, selector: Selector) -> Served:
        if selector.source == "live":
            return self.live.current()
        if selector.source == "batch":
            return self.batch.current(selector)
        return self.registry.current(selector)

    def predict(self, request: Request) -> Response:
        started = time.perf_counter()
        label = "live"
        try:
            selector = self.selector(request)
            label = selector.label
            event = self.domain.validate_request(_body(request))
            served = self.source(selector)
            if selector.source == "live":
                answer = self._guarded(served, event)
            else:
                answer = served.answer(event)
        except CoelhoError as exc:
            response = error_response(exc)
        else:
            response = json_response(answer)
        PREDICT_REQUESTS.labels(self.domain.key, label, str(response[1])).inc()
        PREDICT_LATENCY.labels(self.domain.key, label).observe(time.perf_counter() - started)
        return response

    def _guarded(self, live: Served, event: dict[str, object]) -> dict[str, Any]:
        """The live answer, or the champion's when the live model is unhealthy (module doc)."""
        state, reason = state_of(live.model)
        if state == OK:
            try:
                return live.answer(event)
            except ModelDiverged as exc:
                state, reason = "answer", str(exc)
        PREDICT_FALLBACKS.labels(self.domain.key, state).inc()
        try:
            champion = self.registry.current(Selector("champion"))
        except CoelhoError as exc:
            raise ModelNotReady(
                f"the live {self.domain.key} model is {state} ({reason}) and there is no "
                f"champion to answer instead: {exc}"
            ) from None
        answer = champion.answer(event)
        answer["model"]["fallback"] = {"from": "live", "live_version": live.version,
                                       "state": state, "reason": reason}  # fmt: skip
        return answer

    def handle(self, request: Request) -> Response:
        return route(request, self.predict, self.ready)


def _body(request: Request) -> object:
    raw = request.get_data()
    if not raw:
        raise InvalidEvent("body", "is empty; send a JSON object of the event's fields")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise InvalidEvent("body", f"not valid JSON: {exc}") from None
