"""A no-op that makes one Redis round trip per event before its 202.

Not part of the target ratio: it shows how much of the gap between the learn path and the
transport floor is the price of acknowledging only after a durable write.
"""

from __future__ import annotations

import os

import functions_framework
import redis
from flask import Request

client = redis.Redis.from_url(os.environ["COELHO_REDIS_URL"])


@functions_framework.http
def main(request: Request) -> tuple[str, int]:
    client.incr("coelho:bench:noop_redis")
    return "", 202
