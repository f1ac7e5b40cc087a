"""Grafana dashboards: valid JSON, every query parses as PromQL (promtool) and reads only
metrics of the contract, and each ships as a ConfigMap the Grafana sidecar picks up.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import contract, manifests
from tests.cluster.conftest import require_tool

DASHBOARDS = sorted((manifests.KNATIVE / "monitoring" / "dashboards").glob("*.json"))
# Grafana variables replaced by something PromQL accepts, to let promtool parse the query.
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$domain": "tfd"}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def queries(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets") or []
    ]


def test_there_are_two_dashboards() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert names == {"overview", "ml-pipeline"}
    assert len({load(p)["uid"] for p in DASHBOARDS}) == 2


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["title"].startswith("COELHO")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']}: no query"
            assert panel["datasource"]["uid"] == "${datasource}"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    used = {name for q in queries(dashboard) for name in VARIABLES if name in q}
    assert {u.lstrip("$") for u in used if not u.startswith("$__")} <= variables


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_use_contract_metrics(path: Path) -> None:
    used = {name for q in queries(load(path)) for name in contract.metric_names(q)}
    assert used and used <= set(contract.METRICS) | contract.STANDARD


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_parse(path: Path, tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules = []
    for i, query in enumerate(queries(load(path))):
        for name, value in VARIABLES.items():
            query = query.replace(name, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": query})
    rule_file = tmp_path / "dashboard-queries.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": path.stem, "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(rule_file)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboards_ship_as_sidecar_config_maps(base_docs: list[manifests.Doc]) -> None:
    maps = {
        d.name: d.body
        for d in base_docs
        if d.kind == "ConfigMap" and d.name.startswith("coelho-dashboard-")
    }
    assert set(maps) == {f"coelho-dashboard-{p.stem}" for p in DASHBOARDS}
    for path in DASHBOARDS:
        body = maps[f"coelho-dashboard-{path.stem}"]
        assert body["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert json.loads(body["data"][path.name]) == load(path)
