"""Grafana dashboards: valid JSON, every query parses as PromQL (promtool) and reads only
metrics of the contract (the functions', the producers' and the platform exporters'), each
ships as a ConfigMap the Grafana sidecar picks up, and log panels query Loki by the labels
the collector (k3d/manifests/61-alloy.yaml) sets.
"""

from __future__ import annotations

import json
import re
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


def is_loki(panel: dict[str, Any]) -> bool:
    return bool((panel.get("datasource") or {}).get("type") == "loki")


def queries(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every Prometheus panel (log panels speak LogQL: ``log_queries``)."""
    return [
        target["expr"]
        for panel in dashboard["panels"]
        if not is_loki(panel)
        for target in panel.get("targets") or []
    ]


def log_queries(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard["panels"]
        if is_loki(panel)
        for target in panel.get("targets") or []
    ]


def test_there_are_the_function_and_operations_dashboards() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert names == {"overview", "ml-pipeline", "producers", "kafka", "redis", "minio"}
    assert len({load(p)["uid"] for p in DASHBOARDS}) == len(DASHBOARDS)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_structure(path: Path) -> None:
    dashboard = load(path)
    assert dashboard["title"].startswith("COELHO")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']}: no query"
            wanted = "${loki}" if is_loki(panel) else "${datasource}"
            assert panel["datasource"]["uid"] == wanted, panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    used = {name for q in queries(dashboard) for name in VARIABLES if name in q}
    assert {u.lstrip("$") for u in used if not u.startswith("$__")} <= variables
    if log_queries(dashboard):
        assert "loki" in variables, "a log panel needs the loki datasource variable"


def alloy_labels() -> set[str]:
    """Stream labels the collector gives every log line (its relabel rules' target_label)."""
    config = next(
        doc.body["data"]["config.alloy"]
        for doc in manifests.file_docs(manifests.K3D / "manifests" / "61-alloy.yaml")
        if doc.kind == "ConfigMap"
    )
    return set(re.findall(r'target_label\s*=\s*"([a-z_]+)"', config))


def test_log_panels_select_streams_by_collected_labels() -> None:
    labels = alloy_labels()
    assert {"namespace", "pod", "container"} <= labels
    found = 0
    for path in DASHBOARDS:
        for query in log_queries(load(path)):
            found += 1
            selector = re.match(r"^\{([^}]*)\}", query)
            assert selector, f"{path.name}: {query!r} is not a LogQL stream selector"
            used = set(re.findall(r'([a-z_]+)\s*(?:=~|!~|!=|=)\s*"', selector.group(1)))
            assert used and used <= labels, f"{path.name}: {used - labels} not set by Alloy"
    assert found, "the overview has a log panel"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_use_contract_metrics(path: Path) -> None:
    used = {name for q in queries(load(path)) for name in contract.metric_names(q)}
    known = set(contract.METRICS) | contract.EXPORTER_METRICS | contract.STANDARD
    assert used and used <= known, used - known


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
