"""Configuration from environment variables, parsed once (documented in the README table)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Events without a Kafka position are remembered this long (coelho.state.positions). Their
# redeliveries come within: the KafkaSource's retries (10, exponential from 0.3 s, 30 s timeout:
# 614 s of backoff + 11 x 30 s = 16 min), the Trigger's (10 from 0.3 s, 10 s timeout: 12 min)
# and a consumer-group rebalance re-reading uncommitted records (a session timeout, 45 s, plus
# a pod restart: minutes). One hour covers that chain (about 30 min at worst) twice over.
DEDUPE_TTL_SECONDS = 3600


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    redis_url: str
    state_key: bytes
    checkpoint_every: int
    checkpoint_seconds: float
    dedupe_ttl_seconds: int
    lease_ms: int
    log_retention: int
    # Checkpoints never trim log entries the lakehouse archive has not read (coelho.lakehouse);
    # ``COELHO_ARCHIVE_GUARD=0`` turns that off for a deployment without the archive.
    archive_guard: bool = True
    # The model registry's retention (coelho.retention): a new version per this many events
    # and seconds at most; how many recent versions stay, and how many former alias holders.
    snapshot_min_events: int = 1000
    snapshot_min_seconds: float = 600.0
    registry_keep: int = 10
    registry_keep_held: int = 10
    # The learning curve snapshot runs carry (coelho.state.curve): a point every this many
    # events learned, and at most this many points waiting in Redis for a snapshot.
    curve_every: int = 100
    curve_max_points: int = 2000
    predict_live: str = "auto"
    predict_follow_max_us: float = 250.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=_env("COELHO_REDIS_URL", "redis://127.0.0.1:6379/0"),
            state_key=_env("COELHO_STATE_KEY", "coelho-local-development-key").encode(),
            checkpoint_every=int(_env("COELHO_CHECKPOINT_EVERY", "1000")),
            checkpoint_seconds=float(_env("COELHO_CHECKPOINT_SECONDS", "2.0")),
            dedupe_ttl_seconds=int(_env("COELHO_DEDUPE_TTL_SECONDS", str(DEDUPE_TTL_SECONDS))),
            lease_ms=int(_env("COELHO_LEASE_MS", "3000")),
            log_retention=int(_env("COELHO_LOG_RETENTION", "10000")),
            archive_guard=_env("COELHO_ARCHIVE_GUARD", "1").lower() not in ("0", "false", "no"),
            snapshot_min_events=int(_env("COELHO_SNAPSHOT_MIN_EVENTS", "1000")),
            snapshot_min_seconds=float(_env("COELHO_SNAPSHOT_MIN_SECONDS", "600")),
            registry_keep=int(_env("COELHO_REGISTRY_KEEP", "10")),
            registry_keep_held=int(_env("COELHO_REGISTRY_KEEP_HELD", "10")),
            curve_every=int(_env("COELHO_CURVE_EVERY", "100")),
            curve_max_points=int(_env("COELHO_CURVE_MAX_POINTS", "2000")),
            predict_live=_env("COELHO_PREDICT_LIVE", "auto"),
            predict_follow_max_us=float(_env("COELHO_PREDICT_FOLLOW_MAX_US", "250")),
        )


def model_choice(domain: str) -> str | None:
    """``COELHO_MODEL_TFD=arf`` picks a non-default pipeline for a domain."""
    return os.environ.get(f"COELHO_MODEL_{domain.upper()}") or None


@dataclass(frozen=True)
class LakehouseSettings:
    """Where the Delta tables live and how the archive and query functions behave."""

    s3_endpoint: str
    access_key: str
    secret_key: str
    region: str
    delta_bucket: str
    raw_bucket: str
    archive_batch: int
    archive_budget_seconds: float
    vacuum_hours: float
    query_timeout_seconds: float
    query_max_rows: int
    query_memory: str

    @classmethod
    def from_env(cls) -> LakehouseSettings:
        return cls(
            s3_endpoint=_env("COELHO_S3_ENDPOINT", "http://127.0.0.1:9000"),
            access_key=_env("AWS_ACCESS_KEY_ID", ""),
            secret_key=_env("AWS_SECRET_ACCESS_KEY", ""),
            region=_env("AWS_DEFAULT_REGION", "us-east-1"),
            delta_bucket=_env("COELHO_DELTA_BUCKET", "delta-lake"),
            raw_bucket=_env("COELHO_RAW_BUCKET", "raw-data"),
            archive_batch=int(_env("COELHO_ARCHIVE_BATCH", "5000")),
            archive_budget_seconds=float(_env("COELHO_ARCHIVE_BUDGET_SECONDS", "20")),
            vacuum_hours=float(_env("COELHO_ARCHIVE_VACUUM_HOURS", "168")),
            query_timeout_seconds=float(_env("COELHO_QUERY_TIMEOUT_SECONDS", "10")),
            query_max_rows=int(_env("COELHO_QUERY_MAX_ROWS", "10000")),
            query_memory=_env("COELHO_QUERY_MEMORY", "512MB"),
        )


@dataclass(frozen=True)
class StackStorage:
    """How ``coelho up`` provides S3 and where MLflow keeps artifacts.

    ``COELHO_S3_ENDPOINT`` unset (or ``local``): start MinIO here (the default); a URL: use that
    S3 server (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` from the environment).
    ``COELHO_ARTIFACTS=local`` keeps MLflow artifacts in a local directory (the lakehouse still
    needs S3); the default ``s3`` puts them in bucket ``mlflow-artifacts``.
    """

    s3_endpoint: str | None
    artifacts: str

    @classmethod
    def from_env(cls) -> StackStorage:
        endpoint = _env("COELHO_S3_ENDPOINT", "local")
        artifacts = _env("COELHO_ARTIFACTS", "s3").lower()
        if artifacts not in ("s3", "local"):
            raise ValueError(f"COELHO_ARTIFACTS={artifacts!r}: expected s3 or local")
        return cls(None if endpoint in ("", "local") else endpoint, artifacts)


@dataclass(frozen=True)
class BatchSettings:
    """Batch training (coelho.batch): where requests go and how a training job runs."""

    # The Broker's ingress the dashboard and ``coelho train`` send training requests to.
    broker_url: str
    # The CloudEvent a JobSink mounts into the training job (the emulator sets its own file).
    event_file: Path
    # OpenMP threads of scikit-learn's fits. Measured on the shared 2-core machine under load:
    # one HistGradientBoosting fit took 92 s with 2 threads and 2.4 s with 1 (spinning threads
    # starve), so the default is 1; a Job with dedicated CPUs may raise it.
    threads: int

    @classmethod
    def from_env(cls) -> BatchSettings:
        broker = "http://kafka-broker-ingress.knative-eventing.svc.cluster.local/coelho/coelho"
        return cls(
            broker_url=_env("COELHO_BROKER_URL", broker),
            event_file=Path(_env("COELHO_JOBSINK_EVENT", "/etc/jobsink-event/event")),
            threads=max(1, int(_env("COELHO_BATCH_THREADS", "1"))),
        )
