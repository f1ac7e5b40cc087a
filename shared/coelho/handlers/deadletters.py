"""The dead-letter sink: keep every event the Broker gave up on, with its reason."""

from __future__ import annotations

import base64
import hashlib
import json

import redis
from flask import Request

from coelho import events, telemetry
from coelho.errors import CoelhoError
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.settings import Settings
from coelho.state.keys import DEAD_LETTERS, Keys

# KEYS: seen marker, dead-letter stream, domain counters. ARGV: ttl, then stream fields.
_KEEP = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', unpack(ARGV, 2))
  redis.call('HINCRBY', KEYS[3], 'dead_lettered', 1)
  return 1
end
return 0
"""


class DeadLetterService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.client = redis.Redis.from_url(self.settings.redis_url)
        self._keep = self.client.register_script(_KEEP)

    def ready(self) -> tuple[bool, str]:
        try:
            self.client.ping()
        except redis.RedisError as exc:
            return False, f"redis unavailable: {exc}"
        return True, "ok"

    def keep(self, request: Request) -> Response:
        try:
            event = events.parse(request.headers, request.get_data())
        except CoelhoError as exc:
            return error_response(exc)
        attrs = event.get_attributes()
        domain = str(attrs.get("domain", "unknown"))
        source, event_id = str(attrs["source"]), str(attrs["id"])
        reason = _decode(attrs.get("knativeerrordata"))
        data = event.data if isinstance(event.data, bytes) else json.dumps(event.data)
        fields = {
            "domain": domain, "source": source, "id": event_id, "type": str(attrs["type"]),
            "code": str(attrs.get("knativeerrorcode", "")),
            "dest": str(attrs.get("knativeerrordest", "")), "reason": reason, "data": data,
        }  # fmt: skip
        digest = hashlib.sha1(f"{source}\n{event_id}".encode()).hexdigest()
        try:
            kept = self._keep(
                keys=[Keys("deadletters").seen(digest), DEAD_LETTERS, Keys(domain).counters],
                args=[self.settings.dedupe_ttl_seconds, *(v for kv in fields.items() for v in kv)],
            )
        except redis.RedisError as exc:
            return json_response({"error": "Unavailable", "message": str(exc)}, 503)
        if kept:
            telemetry.DEAD_LETTERS.labels(domain).inc()
        return "", 202

    def handle(self, request: Request) -> Response:
        return route(request, self.keep, self.ready)


def _decode(data: object) -> str:
    """``knativeerrordata`` is the failed response body, base64-encoded."""
    if not data:
        return ""
    try:
        return base64.b64decode(str(data)).decode("utf-8", "replace")
    except ValueError:
        return str(data)
