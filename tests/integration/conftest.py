"""Extra servers for the model-lifecycle tests: S3, MLflow, and functions not yet ready.

- ``mlflow_server`` (session): MLflow with a SQLite store and artifacts proxied to the S3
  bucket ``mlflow-artifacts`` of ``s3_server`` -> its URL.
- ``registry``: an ``MlflowClient`` on that server with no registered ``<domain>-river``
  models and no ``<domain>-history`` runs (``coelho.retention``) left from earlier tests.
- ``spawn_function``: factory ``(name, env=None, ready="/health/liveness") -> base URL``, like
  ``serve_function`` but for functions that are not ready yet on purpose (predict without a
  model).
- ``checkpoints``: writes a domain's checkpoint to the test Redis the way a writer does.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from coelho.stack.config import function_argv
from coelho.stack.mlflow import MlflowServer
from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.stack.s3 import S3Server
from tests.conftest import REPO, TEST_STATE_KEY

DOMAINS = ("tfd", "eta", "ecci")
# URL -> the session's MlflowServer, for tests that need its backend store (``mlflow gc``).
MLFLOW_SERVERS: dict[str, MlflowServer] = {}
# MLflow's usage telemetry would try to leave the machine: off for every process we start.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[str]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"), s3=s3_server.env()).start()
    MLFLOW_SERVERS[server.url] = server
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def registry(mlflow_server: str) -> Iterator[Any]:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from coelho.domains import get
    from coelho.retention import HISTORY_TAG

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    for domain in DOMAINS:
        try:
            client.delete_registered_model(f"{domain}-river")
        except MlflowException:
            pass
        # History runs outlive registered models; a test reading one must see only its own.
        experiment = client.get_experiment_by_name(get(domain).title)
        if experiment is not None:
            for run in client.search_runs([experiment.experiment_id],
                                          f"tags.`{HISTORY_TAG}` = 'true'"):  # fmt: skip
                client.delete_run(run.info.run_id)
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = mlflow_server
    try:
        yield client
    finally:
        if previous is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = previous


@pytest.fixture
def spawn_function(redis_url: str, tmp_path: Path) -> Iterator[Any]:
    started: list[Child] = []

    def spawn(
        name: str, env: Mapping[str, str] | None = None, ready: str = "/health/liveness"
    ) -> str:
        port = free_port()
        full_env = {**os.environ, "COELHO_REDIS_URL": redis_url,
                    "COELHO_STATE_KEY": TEST_STATE_KEY, **(env or {})}  # fmt: skip
        argv = function_argv(REPO / "functions" / name / "main.py", port)
        child = Child(name, argv, env=full_env, cwd=REPO, log_path=tmp_path / f"{name}.log")
        started.append(child.start())
        base = f"http://{HOST}:{port}"
        child.wait_ready(lambda: http_ok(f"{base}{ready}"), timeout=90, what=f"GET {ready} 200")
        return base

    try:
        yield spawn
    finally:
        for child in reversed(started):
            child.stop(timeout=10)


class Checkpoints:
    """Save models as a domain's checkpoint, fenced by a lease like the real writer."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def save(self, domain: str, model: Any) -> int:
        from coelho.state.checkpoint import CheckpointStore
        from coelho.state.keys import Keys

        token = secrets.token_hex(8)
        self.client.set(Keys(domain).lease, token, px=60_000)
        try:
            store = CheckpointStore(self.client, domain, TEST_STATE_KEY.encode())
            version = store.save(model, "0-0", model.events_learned, token)
        finally:
            self.client.delete(Keys(domain).lease)
        assert version is not None
        return version


@pytest.fixture
def checkpoints(redis_client: Any) -> Checkpoints:
    return Checkpoints(redis_client)


def trained(domain: str, n: int, seed: int = 7) -> Any:
    """A model that learned the first ``n`` events of a seeded stream (partition 0)."""
    from coelho.domains import get
    from coelho.learning import OnlineModel

    model = OnlineModel.create(domain)
    events = get(domain).produce(seed=seed)
    for offset in range(n):
        model.learn(next(events), (get(domain).topic, 0, offset))
    return model


def predict_request(domain: str, seed: int = 99) -> dict[str, Any]:
    from coelho.domains import get

    return get(domain).validate_request(next(get(domain).produce(seed=seed)))
