"""The S3 server of the local stack and the tests: MinIO on 127.0.0.1, with its web console.

``make minio`` builds the pinned MinIO from the Go module proxy into ``<home>/bin/minio``;
``$COELHO_MINIO_BIN`` or a ``minio`` on PATH are used instead when present. It holds MLflow's
artifacts and the lakehouse (coelho.lakehouse), so it must honour conditional writes
(``If-None-Match``: Delta commits are put-if-absent). moto's standalone server is used only
when a caller asks for it (``prefer="moto"``), never as a silent fallback. Either way the
buckets ``mlflow-artifacts``, ``delta-lake`` and ``raw-data`` exist before ``start()`` returns.
Credentials are generated once into ``<data>/credentials`` (0600), so a restarted MinIO keeps
its data.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child, StartupError

BUCKETS = ("mlflow-artifacts", "delta-lake", "raw-data")
REGION = "us-east-1"
METRICS_PATH = "/minio/v2/metrics/cluster"  # MinIO's native Prometheus metrics (v2, cluster)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def load_or_create(cls, path: Path) -> Credentials:
        """Random credentials kept in ``path`` (0600), so a restarted MinIO keeps its data."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(f"coelho-{secrets.token_hex(4)}\n{secrets.token_hex(20)}\n")
        access, secret = path.read_text().split()[:2]
        return cls(access, secret)


def minio_binary(home: Path | None = None) -> str | None:
    """A MinIO server binary if one is installed, else None (never builds one): from
    ``$COELHO_MINIO_BIN``, ``<home>/bin``, the checkout's ``.coelho/bin`` (where ``make minio``
    puts it, also for a stack in another ``COELHO_HOME``) or PATH."""
    from coelho.stack.config import find_repo

    candidates = [os.environ.get("COELHO_MINIO_BIN", "")]
    if home is not None:
        candidates.append(str(home / "bin" / "minio"))
    candidates.append(str(find_repo() / ".coelho" / "bin" / "minio"))
    candidates.append(shutil.which("minio") or "")
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def moto_binary() -> str:
    beside = Path(sys.executable).with_name("moto_server")
    return str(beside) if beside.exists() else (shutil.which("moto_server") or "moto_server")


def s3_env(endpoint: str, credentials: Credentials) -> dict[str, str]:
    """What boto3 and an MLflow server need to reach this S3 server."""
    return {
        "MLFLOW_S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": credentials.access_key,
        "AWS_SECRET_ACCESS_KEY": credentials.secret_key,
        "AWS_DEFAULT_REGION": REGION,
    }


def lakehouse_env(s3: Mapping[str, str]) -> dict[str, str]:
    """What the archive and query functions need of ``s3_env``: endpoint and credentials."""
    return {
        "COELHO_S3_ENDPOINT": s3["MLFLOW_S3_ENDPOINT_URL"],
        "AWS_ACCESS_KEY_ID": s3["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": s3["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": s3.get("AWS_DEFAULT_REGION", REGION),
    }


def create_buckets(
    endpoint: str, credentials: Credentials, buckets: tuple[str, ...] = BUCKETS
) -> None:
    """Create each bucket that does not exist yet (idempotent)."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=credentials.access_key,
        aws_secret_access_key=credentials.secret_key,
        region_name=REGION,
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in buckets:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)


class S3Server:
    """One S3-compatible server; ``kind`` is ``minio`` or ``moto`` after ``start()``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        home: Path | None = None,
        log_path: Path | None = None,
        prefer: str = "minio",
        console_port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.console_port = console_port or free_port()
        self.log_path = log_path or data_dir / "s3.log"
        self.home = home
        self.prefer = prefer
        self.kind = ""
        self.credentials = Credentials.load_or_create(data_dir / "credentials")
        self.child: Child | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def console_url(self) -> str:
        """MinIO's web console (log in with the generated credentials); empty for moto."""
        return f"http://{HOST}:{self.console_port}" if self.kind == "minio" else ""

    def env(self) -> dict[str, str]:
        return s3_env(self.endpoint, self.credentials)

    def argv(self) -> tuple[list[str], dict[str, str], str]:
        if self.prefer == "moto":
            return [moto_binary(), "-H", HOST, "-p", str(self.port)], dict(os.environ), "moto"
        minio = minio_binary(self.home)
        if not minio:
            raise StartupError(
                "s3: no MinIO binary: run `make minio` (builds it into .coelho/bin) or set "
                "COELHO_MINIO_BIN"
            )
        # Metrics without a token: the server binds loopback only, and Prometheus scrapes
        # them for the MinIO dashboard, as on the cluster (k3d/manifests/40-minio.yaml).
        env = {**os.environ, "MINIO_ROOT_USER": self.credentials.access_key,
               "MINIO_ROOT_PASSWORD": self.credentials.secret_key,
               "MINIO_PROMETHEUS_AUTH_TYPE": "public"}  # fmt: skip
        argv = [minio, "server", str(self.data_dir / "data"), "--quiet",
                "--address", f"{HOST}:{self.port}",
                "--console-address", f"{HOST}:{self.console_port}"]  # fmt: skip
        return argv, env, "minio"

    @property
    def metrics_target(self) -> str | None:
        """``host:port/path`` of MinIO's cluster metrics for Prometheus; None for moto."""
        if self.kind != "minio":
            return None
        return f"{HOST}:{self.port}{METRICS_PATH}"

    def ready_url(self) -> str:
        path = "/minio/health/live" if self.kind == "minio" else "/moto-api/"
        return f"{self.endpoint}{path}"

    def start(self, *, timeout: float = 60.0) -> S3Server:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        argv, env, self.kind = self.argv()
        self.child = Child(f"s3-{self.kind}", argv, log_path=self.log_path, env=env).start()
        self.child.wait_ready(
            lambda: http_ok(self.ready_url()),
            timeout=timeout,
            what=f"answering {self.endpoint}",
            port=self.port,
        )
        create_buckets(self.endpoint, self.credentials)
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.child is not None:
            self.child.stop(timeout)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def external_env(endpoint: str, env: Mapping[str, str]) -> dict[str, str]:
    """An existing S3 server (``COELHO_S3_ENDPOINT=http://...``) with credentials from ``env``;
    its buckets are created when missing."""
    try:
        credentials = Credentials(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    except KeyError as exc:
        raise StartupError(f"s3: COELHO_S3_ENDPOINT={endpoint} needs {exc.args[0]} set") from None
    try:
        create_buckets(endpoint, credentials)
    except Exception as exc:  # botocore raises many kinds; all mean "not usable"
        raise StartupError(f"s3: cannot create buckets at {endpoint}: {exc}") from exc
    return s3_env(endpoint, credentials)
