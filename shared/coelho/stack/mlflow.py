"""An MLflow tracking server on 127.0.0.1: SQLite backend store, proxied artifacts.

Clients (the snapshot, predict and learn functions, the CLI) only need the tracking URI:
artifacts go through the server (``mlflow-artifacts:/`` URIs), so only the server holds storage
credentials. The artifact destination is a local directory by default, or the S3 bucket
``s3://mlflow-artifacts`` when ``s3`` (endpoint + credentials, see ``coelho.stack.s3``) is given.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child

S3_BUCKET = "mlflow-artifacts"


class MlflowServer:
    """``mlflow server`` in the foreground; ``start()`` returns once ``GET /health`` is 200."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        s3: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        python: str = sys.executable,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.s3 = dict(s3 or {})
        self.log_path = log_path or data_dir / "mlflow.log"
        self.python = python
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def artifacts_destination(self) -> str:
        if self.s3:
            return f"s3://{S3_BUCKET}"
        return (self.data_dir / "artifacts").resolve().as_uri()

    def argv(self) -> list[str]:
        return [
            self.python, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}",
            "--artifacts-destination", self.artifacts_destination,
            "--serve-artifacts",
            "--host", HOST, "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        env = {**os.environ, **self.s3, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
               # No GenAI job runner: it forks ~7 workers of ~240 MB that this platform never uses.
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # fmt: skip
        # The server's own client calls must not loop back through a tracking URI of ours.
        env.pop("MLFLOW_TRACKING_URI", None)
        return env

    def start(self, *, timeout: float = 120.0) -> MlflowServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.child = Child(
            "mlflow", self.argv(), log_path=self.log_path, env=self.env(), cwd=self.data_dir
        ).start()
        self.child.wait_ready(
            lambda: http_ok(f"{self.url}/health"),
            timeout=timeout,
            what=f"answering {self.url}",
            port=self.port,
        )
        return self

    def gc(self, *, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        """``mlflow gc``: purge the runs and logged models marked deleted (coelho.retention).

        Only a process with the backend store can: the snapshot function deletes versions,
        marks runs deleted and removes their artifacts through the server; the rows stay
        until this. The tracking URI lets gc reach artifacts through the server's proxy.
        """
        argv = [self.python, "-m", "mlflow", "gc",
                "--backend-store-uri", f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}",
                "--tracking-uri", self.url]  # fmt: skip
        env = {**self.env(), "MLFLOW_TRACKING_URI": self.url}
        return subprocess.run(argv, env=env, cwd=self.data_dir, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip

    def stop(self, timeout: float = 20.0) -> None:
        if self.child is not None:
            self.child.stop(timeout)

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
