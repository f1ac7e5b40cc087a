"""The alert rules: valid for promtool, tested by promtool, each alert covered by a test.

Rules are extracted exactly as the local stack does (``coelho.stack.prometheus.extract_rules``:
the ``spec`` of every PrometheusRule under knative/), then checked and unit-tested with the
files in tests/cluster/promtool/.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from coelho.stack.prometheus import extract_rules
from tests.cluster import contract, manifests
from tests.cluster.conftest import require_tool

TESTS = sorted((Path(__file__).parent / "promtool").glob("*.yaml"))
SEVERITIES = {"critical", "warning", "info"}


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="module")
def rule_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rules")
    written = extract_rules(manifests.KNATIVE, folder)
    assert [p.name for p in written] == ["coelho-alerts.yaml"]
    for test in TESTS:
        shutil.copy(test, folder / test.name)
    return folder


def rules(rule_dir: Path) -> list[dict[str, Any]]:
    groups = yaml.safe_load((rule_dir / "coelho-alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_promtool_check_rules(promtool: str, rule_dir: Path) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_dir / "coelho-alerts.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize("test_file", TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(promtool: str, rule_dir: Path, test_file: Path) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", test_file.name], capture_output=True, text=True, cwd=rule_dir
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(promtool: str, rule_dir: Path, tmp_path: Path) -> None:
    """A rule with a wrong threshold makes its unit test fail (the tests are not vacuous)."""
    spec = yaml.safe_load((rule_dir / "coelho-alerts.yaml").read_text())
    for group in spec["groups"]:
        for rule in group["rules"]:
            rule["expr"] = rule["expr"].replace("> 1000", "> 100000")
    (tmp_path / "coelho-alerts.yaml").write_text(yaml.safe_dump(spec))
    shutil.copy(rule_dir / "learn.yaml", tmp_path / "learn.yaml")
    result = subprocess.run(
        [promtool, "test", "rules", "learn.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode != 0
    assert "CoelhoLearnLagHigh" in result.stdout + result.stderr


def test_every_alert_has_a_firing_unit_test(rule_dir: Path) -> None:
    fired: set[str] = set()
    for path in TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test") or []:
                if case.get("exp_alerts"):
                    fired.add(case["alertname"])
    alerts = {rule["alert"] for rule in rules(rule_dir) if "alert" in rule}
    assert alerts - fired == set(), "alerts without a test that expects them to fire"
    assert len(alerts) >= 10


def test_alerts_are_labelled_and_described(rule_dir: Path) -> None:
    for rule in rules(rule_dir):
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_rules_use_only_contract_metrics(rule_dir: Path) -> None:
    used = set()
    for rule in rules(rule_dir):
        used |= contract.metric_names(rule["expr"])
    assert used, "no metric found in the rules"
    known = set(contract.METRICS) | contract.EXPORTER_METRICS | contract.STANDARD
    assert used <= known, used - known
