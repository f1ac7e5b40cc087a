"""Configuration from environment variables, parsed once (documented in the README table)."""

from __future__ import annotations

import os
from dataclasses import dataclass


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
    predict_live: str = "auto"
    predict_follow_max_us: float = 250.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            redis_url=_env("COELHO_REDIS_URL", "redis://127.0.0.1:6379/0"),
            state_key=_env("COELHO_STATE_KEY", "coelho-local-development-key").encode(),
            checkpoint_every=int(_env("COELHO_CHECKPOINT_EVERY", "1000")),
            checkpoint_seconds=float(_env("COELHO_CHECKPOINT_SECONDS", "2.0")),
            dedupe_ttl_seconds=int(_env("COELHO_DEDUPE_TTL_SECONDS", str(7 * 24 * 3600))),
            lease_ms=int(_env("COELHO_LEASE_MS", "3000")),
            log_retention=int(_env("COELHO_LOG_RETENTION", "10000")),
            predict_live=_env("COELHO_PREDICT_LIVE", "auto"),
            predict_follow_max_us=float(_env("COELHO_PREDICT_FOLLOW_MAX_US", "250")),
        )


def model_choice(domain: str) -> str | None:
    """``COELHO_MODEL_TFD=arf`` picks a non-default pipeline for a domain."""
    return os.environ.get(f"COELHO_MODEL_{domain.upper()}") or None
