"""What the local stack runs and where it keeps its state.

``FUNCTIONS`` is the single table of functions-framework processes; adding predict-* or
snapshot is one row. Everything else is read from the environment once, in ``StackConfig``.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from coelho.stack.prometheus import RETENTION_TIME
from coelho.stack.redis import MAXMEMORY


@dataclass(frozen=True)
class FunctionSpec:
    """One local function: ``functions/<name>/main.py``, served as Knative Service ``name``."""

    name: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    # What "started" means: predict functions are live but not ready until a model exists.
    ready: str = "/health/readiness"
    # Gets the S3 endpoint and credentials (the lakehouse functions; nothing else needs them).
    s3: bool = False


FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec("learn-tfd", 8081),
    FunctionSpec("learn-eta", 8082),
    FunctionSpec("learn-ecci", 8083),
    FunctionSpec("dead-letters", 8084),
    FunctionSpec("predict-tfd", 8085, ready="/health/liveness"),
    FunctionSpec("predict-eta", 8086, ready="/health/liveness"),
    FunctionSpec("predict-ecci", 8087, ready="/health/liveness"),
    FunctionSpec("snapshot", 8088),
    FunctionSpec("archive", 8089, s3=True),
    FunctionSpec("query", 8090, s3=True),
)


@dataclass(frozen=True)
class JobSpec:
    """One JobSink's local command: ``functions/<name>/main.py``, run per event by the emulator
    (Knative runs the same entrypoint as a Job on the cluster)."""

    name: str
    s3: bool = False


JOBS: tuple[JobSpec, ...] = (JobSpec("train", s3=True),)

KAFKA_PORT = 9092
KAFKA_CONTROLLER_PORT = 9093
REDIS_PORT = 6379
PROMETHEUS_PORT = 9090
EMULATOR_PORT = 8070
DASH_PORT = 8050
MLFLOW_PORT = 5000
S3_PORT = 9000
S3_CONSOLE_PORT = 9001
CHECKPOINT_EVERY = "1000"
# Bounds of the stack's own footprint (README, configuration): Redis's memory limit (full, it
# refuses writes rather than evict state), each component log's size before it is rotated and
# how many rotated files are kept, how long Prometheus keeps samples, and how often `mlflow gc`
# purges the runs the registry's retention deleted.
REDIS_MAXMEMORY = MAXMEMORY
LOG_MAX_BYTES = 20 * 1024 * 1024
LOG_KEEP = 3
PROMETHEUS_RETENTION = RETENTION_TIME
MLFLOW_GC_SECONDS = 3600.0


def function_argv(source: Path, port: int, python: str = sys.executable) -> list[str]:
    """functions-framework serving ``main`` of ``source`` on loopback, as in the cluster image."""
    return [python, "-m", "functions_framework", "--source", str(source), "--target", "main",
            "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip


def dash_argv(port: int, python: str = sys.executable) -> list[str]:
    """The dashboard (``dash_app``) on loopback."""
    return [python, "-m", "dash_app", "--host", "127.0.0.1", "--port", str(port)]


# Stack service name -> the dashboard's environment variable for its address (the navbar's
# Services menu links each one the stack runs).
DASH_SERVICE_ENV = {
    "emulator": "COELHO_EMULATOR_URL",
    "prometheus": "COELHO_PROMETHEUS_URL",
    "mlflow": "COELHO_MLFLOW_URL",
    "minio-console": "COELHO_MINIO_CONSOLE_URL",
    "grafana": "COELHO_GRAFANA_URL",
    "alertmanager": "COELHO_ALERTMANAGER_URL",
}


def find_repo() -> Path:
    """``$COELHO_REPO``, else the checkout this package is installed from, else the cwd."""
    if "COELHO_REPO" in os.environ:
        return Path(os.environ["COELHO_REPO"]).resolve()
    source_checkout = Path(__file__).resolve().parents[3]
    if (source_checkout / "functions").is_dir() and (source_checkout / "eventing").is_dir():
        return source_checkout
    return Path.cwd().resolve()


@dataclass(frozen=True)
class StackConfig:
    """Paths and external servers of one local stack."""

    repo: Path
    home: Path
    external_kafka: str | None = None
    external_redis: str | None = None
    functions: tuple[FunctionSpec, ...] = FUNCTIONS
    redis_maxmemory: str = REDIS_MAXMEMORY
    log_max_bytes: int = LOG_MAX_BYTES
    log_keep: int = LOG_KEEP
    prometheus_retention: str = PROMETHEUS_RETENTION
    mlflow_gc_seconds: float = MLFLOW_GC_SECONDS

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        env = os.environ if env is None else env
        repo = Path(env["COELHO_REPO"]).resolve() if "COELHO_REPO" in env else find_repo()
        home = Path(env.get("COELHO_HOME") or repo / ".coelho").resolve()
        return cls(
            repo=repo,
            home=home,
            external_kafka=env.get("COELHO_KAFKA_BOOTSTRAP") or None,
            external_redis=env.get("COELHO_REDIS_URL") or None,
            redis_maxmemory=env.get("COELHO_REDIS_MAXMEMORY") or REDIS_MAXMEMORY,
            log_max_bytes=int(env.get("COELHO_LOG_MAX_BYTES") or LOG_MAX_BYTES),
            log_keep=int(env.get("COELHO_LOG_KEEP") or LOG_KEEP),
            prometheus_retention=env.get("COELHO_PROMETHEUS_RETENTION") or PROMETHEUS_RETENTION,
            mlflow_gc_seconds=float(env.get("COELHO_MLFLOW_GC_SECONDS") or MLFLOW_GC_SECONDS),
        )

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def kafka_libs(self) -> Path:
        return self.home / "kafka" / "libs"

    @property
    def stack_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def services_file(self) -> Path:
        return self.home / "services.json"

    @property
    def jobs_file(self) -> Path:
        return self.home / "jobs.json"

    def job_argv(self, spec: JobSpec, python: str = sys.executable) -> list[str]:
        source = self.repo / "functions" / spec.name / "main.py"
        if not source.is_file():
            raise FileNotFoundError(f"stack: job {spec.name!r} has no source at {source}")
        return [python, str(source)]

    def broker_path(self) -> str:
        """``/<namespace>/<name>`` of the first Broker in ``<repo>/eventing`` (its ingress path)."""
        for path in sorted((self.repo / "eventing").glob("*.y*ml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "Broker":
                    meta = doc.get("metadata") or {}
                    return f"/{meta.get('namespace', 'coelho')}/{meta['name']}"
        return "/coelho/coelho"

    def function_source(self, spec: FunctionSpec) -> Path:
        source = self.repo / "functions" / spec.name / "main.py"
        if not source.is_file():
            raise FileNotFoundError(f"stack: function {spec.name!r} has no source at {source}")
        return source

    def state_key(self) -> str:
        """The HMAC key of model checkpoints: made once, kept in ``<home>/state.key`` (0600)."""
        path = self.home / "state.key"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
        return path.read_text().strip()

    def function_env(
        self, spec: FunctionSpec, redis_url: str, base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The environment of one function process, as Knative would give it."""
        env = dict(os.environ if base is None else base)
        env.setdefault("COELHO_CHECKPOINT_EVERY", CHECKPOINT_EVERY)
        env.update(
            COELHO_REDIS_URL=redis_url,
            COELHO_STATE_KEY=self.state_key(),
            K_SERVICE=spec.name,
            PYTHONUNBUFFERED="1",
        )
        env.update(spec.env)
        return env

    def dash_env(
        self, services: Mapping[str, str], base: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The dashboard's environment: Redis, state key, services.json and service URLs."""
        env = dict(os.environ if base is None else base)
        env.update(
            COELHO_REDIS_URL=services["redis"],
            COELHO_STATE_KEY=self.state_key(),
            COELHO_SERVICES_FILE=str(self.services_file),
            COELHO_CONTROL="emulator",
            PYTHONUNBUFFERED="1",
        )
        for name, variable in DASH_SERVICE_ENV.items():
            if services.get(name):
                env[variable] = services[name]
        if services.get("emulator"):
            env["COELHO_BROKER_URL"] = services["emulator"] + self.broker_path()
        return env

    def kafka_source_topics(self) -> set[str]:
        """Topics named by the KafkaSources in ``<repo>/eventing`` (created before it starts)."""
        topics: set[str] = set()
        for path in sorted((self.repo / "eventing").glob("*.y*ml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if isinstance(doc, dict) and doc.get("kind") == "KafkaSource":
                    topics.update((doc.get("spec") or {}).get("topics") or [])
        return topics
