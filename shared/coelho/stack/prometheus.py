"""A local Prometheus that scrapes every local function, with the cluster's alert rules.

The scrape config is generated from the running children (loopback addresses), and the rule
files are the ``spec`` of every ``kind: PrometheusRule`` under ``<repo>/knative``, so alerts
written for the cluster are evaluated locally too.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child, StartupError

SCRAPE_INTERVAL = "5s"
RETENTION_TIME = "2d"  # COELHO_PROMETHEUS_RETENTION
RETENTION_SIZE = "512MB"
NAMESPACE = "coelho"


def scrape_config(targets: Mapping[str, str], rule_files: list[Path]) -> dict[str, Any]:
    """One job per target ``name -> host:port[/path]`` (path default ``/metrics``); labels
    mimic the cluster's (service, namespace)."""
    jobs = []
    for name, target in sorted(targets.items()):
        address, slash, path = target.partition("/")
        jobs.append({
            "job_name": name,
            "metrics_path": slash + path if slash else "/metrics",
            "static_configs": [
                {"targets": [address], "labels": {"service": name, "namespace": NAMESPACE}}
            ],
        })  # fmt: skip
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": jobs,
    }


def extract_rules(knative_dir: Path, rules_dir: Path) -> list[Path]:
    """Write the ``spec`` of each PrometheusRule to ``rules_dir/<name>.yaml``; zero is fine."""
    rules_dir.mkdir(parents=True, exist_ok=True)
    for stale in rules_dir.glob("*.yaml"):
        stale.unlink()
    written: list[Path] = []
    if not knative_dir.is_dir():
        return written
    for path in sorted([*knative_dir.rglob("*.yaml"), *knative_dir.rglob("*.yml")]):
        try:
            docs = list(yaml.safe_load_all(path.read_text()))
        except yaml.YAMLError as exc:
            raise StartupError(f"prometheus: cannot parse {path}: {exc}") from exc
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "PrometheusRule":
                continue
            name = (doc.get("metadata") or {}).get("name")
            spec = doc.get("spec")
            if not name or not isinstance(spec, dict):
                raise StartupError(f"prometheus: PrometheusRule in {path} lacks metadata.name/spec")
            target = rules_dir / f"{name}.yaml"
            target.write_text(yaml.safe_dump(spec, sort_keys=False))
            written.append(target)
    return written


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise StartupError("prometheus: binary not on PATH (apt-get install prometheus)")
    return found


class PrometheusServer:
    """Prometheus on loopback with storage and config under ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        retention: str = RETENTION_TIME,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.log_path = log_path or data_dir / "prometheus.log"
        self.retention = retention
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def configure(self, targets: Mapping[str, str], knative_dir: Path) -> Path:
        rules = extract_rules(knative_dir, self.data_dir / "rules")
        path = self.data_dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(scrape_config(targets, rules), sort_keys=False))
        return path

    def argv(self, config: Path) -> list[str]:
        return [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
            # Whichever comes first: samples older than the time, or the oldest blocks
            # once the TSDB outgrows the size (a scrape every 5 s of ~12 targets).
            f"--storage.tsdb.retention.time={self.retention}",
            f"--storage.tsdb.retention.size={RETENTION_SIZE}",
        ]

    def start(
        self, targets: Mapping[str, str], knative_dir: Path, *, timeout: float = 60.0
    ) -> PrometheusServer:
        config = self.configure(targets, knative_dir)
        self.child = Child("prometheus", self.argv(config), log_path=self.log_path).start()
        self.child.wait_ready(
            lambda: http_ok(f"{self.url}/-/ready"), timeout=timeout, what="ready", port=self.port
        )
        return self

    def stop(self, timeout: float = 20.0) -> None:
        if self.child is not None:
            self.child.stop(timeout)
