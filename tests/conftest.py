"""Fixtures that start REAL servers on free loopback ports for integration tests.

- ``kafka_bootstrap`` (session): Apache Kafka 4.1.1 in KRaft mode -> ``"127.0.0.1:<port>"``.
  Its jars are fetched by Maven once per clone into ``<repo>/.coelho/kafka/libs``.
- ``redis_url`` (session): redis-server -> ``"redis://127.0.0.1:<port>/0"``.
- ``redis_client``: a client on that server, FLUSHALLed before each test.
- ``serve_function``: factory ``(name, env=None) -> base_url`` running ``functions/<name>``
  under functions-framework, ready once ``GET /health/readiness`` answers 200.
- ``s3_server`` (session): MinIO (``make minio`` builds it) on loopback with the buckets
  ``mlflow-artifacts``, ``delta-lake`` and ``raw-data``; ``s3_server.env()`` has its endpoint and
  credentials, ``lakehouse_env`` what the archive and query functions need of it.
- ``shared_dir``: ``$COELHO_SHARED_DIR`` (default ``<repo>/../shared``), skip if absent.

A test using any server fixture is marked ``integration`` automatically, as is every test
under ``tests/integration``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from coelho.stack.config import function_argv
from coelho.stack.kafka import KafkaServer, fetch_jars
from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.stack.redis import RedisServer
from coelho.stack.s3 import S3Server

REPO = Path(__file__).resolve().parents[1]
KAFKA_LIBS = REPO / ".coelho" / "kafka" / "libs"
SERVER_FIXTURES = {"kafka_bootstrap", "redis_url", "redis_client", "serve_function", "s3_server"}
TEST_STATE_KEY = "coelho-test-state-key"

ServeFunction = Callable[..., str]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        in_integration = "integration" in item.path.parts
        uses_servers = SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
        if in_integration or uses_servers:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh single-node Kafka for the session, stopped at its end."""
    libs = fetch_jars(KAFKA_LIBS)
    server = KafkaServer(tmp_path_factory.mktemp("kafka"), libs_dir=libs).start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh redis-server for the session, stopped at its end."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """MinIO for the session (the same binary as ``make up``), stopped at its end."""
    server = S3Server(tmp_path_factory.mktemp("s3"), home=REPO / ".coelho").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    """A redis-py client on an empty database (FLUSHALL before the test)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def serve_function(redis_url: str, tmp_path: Path) -> Iterator[ServeFunction]:
    """Factory: start ``functions/<name>/main.py`` on a free port, return its base URL.

    The environment points the function at the session Redis with a test state key; ``env``
    adds to or overrides it. Every process started is killed at teardown.
    """
    started: list[Child] = []

    def serve(name: str, env: Mapping[str, str] | None = None) -> str:
        source = REPO / "functions" / name / "main.py"
        if not source.is_file():
            raise FileNotFoundError(f"serve_function: no function source {source}")
        port = free_port()
        full_env = {
            **os.environ,
            "COELHO_REDIS_URL": redis_url,
            "COELHO_STATE_KEY": TEST_STATE_KEY,
            "COELHO_CHECKPOINT_EVERY": "50",
            **(env or {}),
        }
        argv = function_argv(source, port)
        child = Child(name, argv, env=full_env, cwd=REPO, log_path=tmp_path / f"{name}.log")
        started.append(child.start())
        base_url = f"http://{HOST}:{port}"
        child.wait_ready(
            lambda: http_ok(f"{base_url}/health/readiness"),
            timeout=60,
            what="ready (GET /health/readiness == 200)",
        )
        return base_url

    try:
        yield serve
    finally:
        for child in reversed(started):
            child.stop(timeout=10)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only notes and schemas beside the repo; tests needing them skip without."""
    path = Path(os.environ.get("COELHO_SHARED_DIR", REPO.parent / "shared"))
    if not path.is_dir():
        pytest.skip(f"shared dir {path} absent (set COELHO_SHARED_DIR to point at it)")
    return path
