"""Dashboard configuration from environment variables, parsed once (README table).

Function URLs come from the local stack's ``services.json`` (re-read when it changes, so a
restarted stack is picked up) or, on the cluster, from a URL template over the Knative
Service name. Browser-facing links (MLflow, Prometheus) may differ from the addresses the
server itself uses, hence the ``*_LINK`` overrides; MinIO's console, Grafana and Alertmanager
are only linked (the Services menu), so one variable each, set by the stack when it runs them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Control = Literal["emulator", "k8s", "none"]
CONTROLS: tuple[Control, ...] = ("emulator", "k8s", "none")
DEFAULT_PORT = 8050


class ConfigError(ValueError):
    """An environment variable has a value the dashboard cannot use; names the variable."""


def _float(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum:g}, got {raw!r}")
    return value


def _url(value: str | None) -> str | None:
    return value.rstrip("/") if value else None


@dataclass
class _ServicesCache:
    """``services.json`` parsed once per modification time."""

    mtime: float = -1.0
    services: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class DashConfig:
    redis_url: str = "redis://127.0.0.1:6379/0"
    state_key: bytes = b"coelho-local-development-key"
    services_file: Path | None = None
    function_url_template: str | None = None
    namespace: str = "coelho"
    emulator_url: str | None = None
    control: Control = "emulator"
    kubernetes_url: str = "https://kubernetes.default.svc"
    mlflow_url: str | None = None
    mlflow_link: str | None = None
    prometheus_url: str | None = None
    prometheus_link: str | None = None
    minio_console_link: str | None = None
    grafana_link: str | None = None
    alertmanager_link: str | None = None
    # The Broker's ingress the Batch ML pages send training requests to (coelho.batch.request).
    broker_url: str | None = None
    refresh_ms: int = 3000
    timeout_s: float = 10.0
    history_points: int = 600
    map_tiles: str = "https://a.basemaps.cartocdn.com/light_all/{z}/{x}/{y}.png"
    overrides: Mapping[str, str] = field(default_factory=dict)
    _cache: _ServicesCache = field(default_factory=_ServicesCache, compare=False, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DashConfig:
        env = os.environ if env is None else env
        control = env.get("COELHO_CONTROL", "emulator")
        if control not in CONTROLS:
            raise ConfigError(
                f"COELHO_CONTROL: expected one of {', '.join(CONTROLS)}, got {control!r}"
            )
        services = env.get("COELHO_SERVICES_FILE")
        mlflow = _url(env.get("COELHO_MLFLOW_URL") or env.get("MLFLOW_TRACKING_URI"))
        prometheus = _url(env.get("COELHO_PROMETHEUS_URL"))
        # COELHO_URL_PREDICT_TFD=http://... pins one function's address.
        overrides = {
            key.removeprefix("COELHO_URL_").lower().replace("_", "-"): value.rstrip("/")
            for key, value in env.items()
            if key.startswith("COELHO_URL_") and value
        }
        return cls(
            redis_url=env.get("COELHO_REDIS_URL", cls.redis_url),
            state_key=env.get("COELHO_STATE_KEY", cls.state_key.decode()).encode(),
            services_file=Path(services) if services else None,
            function_url_template=env.get("COELHO_FUNCTION_URL_TEMPLATE") or None,
            namespace=env.get("COELHO_NAMESPACE", cls.namespace),
            emulator_url=_url(env.get("COELHO_EMULATOR_URL")),
            control=control,  # type: ignore[arg-type]
            kubernetes_url=_url(env.get("COELHO_KUBERNETES_URL")) or cls.kubernetes_url,
            mlflow_url=mlflow,
            mlflow_link=_url(env.get("COELHO_MLFLOW_LINK")) or mlflow,
            prometheus_url=prometheus,
            prometheus_link=_url(env.get("COELHO_PROMETHEUS_LINK")) or prometheus,
            minio_console_link=_url(env.get("COELHO_MINIO_CONSOLE_URL")),
            grafana_link=_url(env.get("COELHO_GRAFANA_URL")),
            alertmanager_link=_url(env.get("COELHO_ALERTMANAGER_URL")),
            broker_url=_url(env.get("COELHO_BROKER_URL")),
            refresh_ms=int(_float(env, "COELHO_DASH_REFRESH_MS", cls.refresh_ms, 500)),
            timeout_s=_float(env, "COELHO_DASH_TIMEOUT_S", cls.timeout_s, 0.1),
            history_points=int(_float(env, "COELHO_DASH_HISTORY_POINTS", 600, 2)),
            map_tiles=env.get("COELHO_MAP_TILES", cls.map_tiles),
            overrides=overrides,
        )

    def services(self) -> dict[str, str]:
        """Function name -> base URL from ``services.json`` ({} when absent or unreadable)."""
        path = self.services_file
        if path is None:
            return {}
        cache = self._cache
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return {}
        with cache.lock:
            if mtime != cache.mtime:
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError):
                    return dict(cache.services)
                cache.services = (
                    {str(k): str(v).rstrip("/") for k, v in data.items() if isinstance(v, str)}
                    if isinstance(data, dict)
                    else {}
                )
                cache.mtime = mtime
            return dict(cache.services)

    def function_url(self, name: str) -> str | None:
        """Base URL of function ``name`` (e.g. ``predict-tfd``), or None when unknown."""
        if name in self.overrides:
            return self.overrides[name]
        found = self.services().get(name)
        if found:
            return found
        if self.function_url_template:
            return self.function_url_template.format(name=name, namespace=self.namespace)
        return None

    def function_urls(self, names: list[str]) -> dict[str, str | None]:
        return {name: self.function_url(name) for name in names}


_lock = threading.Lock()
_current: DashConfig | None = None


def get() -> DashConfig:
    """The process-wide configuration (read from the environment on first use)."""
    global _current
    with _lock:
        if _current is None:
            _current = DashConfig.from_env()
        return _current


def use(config: DashConfig | None) -> None:
    """Replace the process-wide configuration (the app factory and tests call this)."""
    global _current
    with _lock:
        _current = config
