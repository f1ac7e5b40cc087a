"""The dead-letter sink: keep every event the Broker gave up on, with its reason.

Each event is kept once. A KafkaSource record's event (``id`` = ``partition:<p>/offset:<o>``)
of a known domain is deduplicated by position in that domain's resolved ranges, the same ones
the learn function appends against (coelho.state.positions): keeping it closes the gap its
offset would otherwise leave there for ever, and a later redelivery of the record to the learn
function is a duplicate (the event is accounted for once, here). Other events use a marker key
with a TTL, as the learn function does.
"""

from __future__ import annotations

import base64
import hashlib
import json

import redis
from flask import Request

from coelho import domains, events, telemetry
from coelho.errors import CoelhoError
from coelho.handlers.http import Response, error_response, json_response, route
from coelho.settings import Settings
from coelho.state.keys import DEAD_LETTERS, Keys
from coelho.state.positions import IDLE_SECONDS, MAX_RANGES, RESOLVE, floor_field, record_position

# KEYS: seen marker, dead-letter stream, domain counters. ARGV: ttl, then stream fields.
_KEEP = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', unpack(ARGV, 2))
  redis.call('HINCRBY', KEYS[3], 'dead_lettered', 1)
  return 1
end
return 0
"""
# KEYS: the domain's ranges of (source, partition), dead-letter stream, domain counters,
# floors. ARGV: offset, floor field, idle seconds, max ranges, then stream fields.
_KEEP_AT = (
    RESOLVE
    + """
if resolve(KEYS[1], KEYS[4], ARGV[2], ARGV[1], ARGV[3], ARGV[4], KEYS[3]) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', unpack(ARGV, 5))
  redis.call('HINCRBY', KEYS[3], 'dead_lettered', 1)
  return 1
end
return 0
"""
)


class DeadLetterService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.client = redis.Redis.from_url(self.settings.redis_url)
        self._keep = self.client.register_script(_KEEP)
        self._keep_at = self.client.register_script(_KEEP_AT)
        telemetry.watch_redis_memory(lambda: self.client.info("memory"))

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
        try:
            kept = self._store(domain, source, event_id, [v for kv in fields.items() for v in kv])
        except redis.RedisError as exc:
            return json_response({"error": "Unavailable", "message": str(exc)}, 503)
        if kept:
            telemetry.DEAD_LETTERS.labels(domain).inc()
        return "", 202

    def handle(self, request: Request) -> Response:
        return route(request, self.keep, self.ready)

    def _store(self, domain: str, source: str, event_id: str, fields: list[str]) -> int:
        """1 if the event was kept, 0 if it was already resolved (a redelivery)."""
        keys = Keys(domain)
        at = record_position(event_id)
        if at is not None and domain in domains.REGISTRY:
            return int(self._keep_at(
                keys=[keys.positions(source, at[0]), DEAD_LETTERS, keys.counters, keys.floors],
                args=[at[1], floor_field(source, at[0]), IDLE_SECONDS, MAX_RANGES, *fields],
            ))  # fmt: skip
        digest = hashlib.sha1(f"{source}\n{event_id}".encode()).hexdigest()
        return int(self._keep(
            keys=[Keys("deadletters").seen(digest), DEAD_LETTERS, keys.counters],
            args=[self.settings.dedupe_ttl_seconds, *fields],
        ))  # fmt: skip


def _decode(data: object) -> str:
    """``knativeerrordata`` is the failed response body, base64-encoded."""
    if not data:
        return ""
    try:
        return base64.b64decode(str(data)).decode("utf-8", "replace")
    except ValueError:
        return str(data)
