"""A full Redis degrades instead of dying: ``maxmemory`` + ``noeviction`` refuse the append,
the learn function answers 503 (which the Broker retries), and once there is room again the
retried events are appended, each once, with nothing lost. Real redis-server, real function."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import redis
import requests

from coelho.stack.redis import RedisServer
from coelho.state import Keys
from tests.integration.test_exactly_once import (
    ENV,
    _events,
    _headers,
    assert_equals_plain_river,
    deliver,
    wait_checkpoint,
)

N = 3000  # bound of the fill loop; the tiny limit below is reached after a few hundred


def test_a_full_redis_answers_503_and_the_retried_events_are_appended_once(
    serve_function: Any, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path / "redis", maxmemory="64mb").start()
    client = redis.Redis.from_url(server.url)
    try:
        argv = " ".join(server.argv())
        assert "--maxmemory 64mb --maxmemory-policy noeviction" in argv
        base = serve_function("learn-tfd", {**ENV, "COELHO_REDIS_URL": server.url})
        used = int(client.info("memory")["used_memory"])
        client.config_set("maxmemory", used + 1_000_000)  # room for some hundred events
        events = _events("tfd", N)
        accepted, refused = 0, None
        session = requests.Session()
        for i, event in enumerate(events):  # one attempt each, as a Broker's first try
            answer = session.post(f"{base}/", data=json.dumps(event),
                                  headers=_headers("tfd", i), timeout=10)  # fmt: skip
            if answer.status_code == 503:
                refused = (i, answer.json())
                break
            assert answer.status_code == 202
            accepted += 1
        assert refused is not None, f"{N} events fit under the limit"
        assert accepted > 0 and "maxmemory" in refused[1]["message"], refused
        assert client.xlen(Keys("tfd").log) == accepted  # everything acknowledged is logged
        assert client.ping()  # alive: it refuses writes, it is not killed
        metrics = dict(
            line.split(" ", 1)
            for line in session.get(f"{base}/metrics", timeout=10).text.splitlines()
            if line.startswith("coelho_redis_memory_")
        )
        limit = int(client.config_get("maxmemory")["maxmemory"])
        assert float(metrics["coelho_redis_memory_max_bytes"]) == limit
        assert float(metrics["coelho_redis_memory_used_bytes"]) > 0.9 * limit

        # The operator (alerted at 80 %) makes room; the Broker's retries now get through.
        client.config_set("maxmemory", "64mb")
        deadline = time.monotonic() + 120
        total = accepted + 200
        for i in range(accepted, total):
            assert deliver([f"{base}/"], "tfd", i, events[i], deadline) == 202
        wait_checkpoint(client, "tfd", total)
        counters = client.hgetall(Keys("tfd").counters)
        assert int(counters[b"appended"]) == total
        assert_equals_plain_river(client, "tfd", total)
    finally:
        client.close()
        server.stop()
