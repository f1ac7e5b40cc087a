"""redis-server (the Debian package) on 127.0.0.1 with an append-only file in the data dir.

AOF persistence is what lets ``make up`` keep model state, logs and checkpoints across
restarts of the local stack. ``maxmemory`` with the ``noeviction`` policy makes a full Redis
degrade instead of dying: writes are refused (the learn function answers 503 and the Broker
retries the event), reads go on, and nothing (state least of all) is ever evicted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from coelho.stack.ports import HOST, free_port
from coelho.stack.processes import Child, StartupError

# The local stack's limit (``COELHO_REDIS_MAXMEMORY``); its steady state is far below (README,
# Benchmarks: the soak run), the rest is room for dead letters and model checkpoints.
MAXMEMORY = "256mb"


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if not found:
        raise StartupError("redis: `redis-server` not on PATH (apt-get install redis-server)")
    return found


def ping(url: str) -> bool:
    """True when a Redis client at ``url`` gets PONG."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        return bool(client.ping())
    finally:
        client.close()


class RedisServer:
    """One redis-server in the foreground; ``start()`` returns once it answers PING."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        maxmemory: str = MAXMEMORY,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = log_path or data_dir / "redis.log"
        self.maxmemory = maxmemory
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def argv(self) -> list[str]:
        return [
            redis_binary(),
            "--bind",
            HOST,
            "--port",
            str(self.port),
            "--daemonize",
            "no",
            "--appendonly",
            "yes",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--maxmemory",
            self.maxmemory,
            "--maxmemory-policy",
            "noeviction",
        ]

    def start(self, *, timeout: float = 30.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.child = Child("redis", self.argv(), log_path=self.log_path).start()
        self.child.wait_ready(
            lambda: ping(self.url), timeout=timeout, what=f"answering {self.url}", port=self.port
        )
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.child is not None:
            self.child.stop(timeout)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
