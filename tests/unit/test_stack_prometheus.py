"""Prometheus config generation: one job per function, rules from PrometheusRule specs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from coelho.stack.processes import StartupError
from coelho.stack.prometheus import PrometheusServer, extract_rules, scrape_config

RULE = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: coelho-learning
spec:
  groups:
    - name: learning
      rules:
        - alert: LearnErrors
          expr: sum(rate(coelho_learn_errors_total[5m])) > 0
          for: 5m
---
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
"""


def test_scrape_config_lists_every_target_every_5s() -> None:
    config = scrape_config({"learn-tfd": "127.0.0.1:8081", "dead-letters": "127.0.0.1:8084"}, [])
    assert config["global"]["scrape_interval"] == "5s"
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"learn-tfd", "dead-letters"}
    static = jobs["learn-tfd"]["static_configs"][0]
    assert static["targets"] == ["127.0.0.1:8081"]
    assert static["labels"]["service"] == "learn-tfd"
    assert jobs["learn-tfd"]["metrics_path"] == "/metrics"


def test_rules_are_the_spec_of_each_prometheus_rule(tmp_path: Path) -> None:
    knative = tmp_path / "knative" / "base"
    knative.mkdir(parents=True)
    (knative / "alerts.yaml").write_text(RULE)
    written = extract_rules(tmp_path / "knative", tmp_path / "rules")
    assert [p.name for p in written] == ["coelho-learning.yaml"]
    assert yaml.safe_load(written[0].read_text())["groups"][0]["name"] == "learning"


def test_no_rules_is_fine_and_stale_rules_go(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "old.yaml").write_text("groups: []\n")
    assert extract_rules(tmp_path / "missing", tmp_path / "rules") == []
    assert list((tmp_path / "rules").iterdir()) == []


def test_a_rule_without_a_name_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "bad.yaml").write_text("kind: PrometheusRule\nspec: {groups: []}\n")
    with pytest.raises(StartupError, match="bad.yaml"):
        extract_rules(tmp_path / "k", tmp_path / "rules")


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_generated_files(tmp_path: Path) -> None:
    (tmp_path / "knative").mkdir()
    (tmp_path / "knative" / "alerts.yaml").write_text(RULE)
    server = PrometheusServer(tmp_path / "prom", port=1)
    config = server.configure({"learn-tfd": "127.0.0.1:8081"}, tmp_path / "knative")
    done = subprocess.run(
        ["promtool", "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 rules found" in done.stdout + done.stderr
