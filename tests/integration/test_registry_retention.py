"""The registry's retention policy on a real MLflow server with its artifacts on a real S3
(MinIO): thresholds decide when a snapshot earns a version, the newest K, the alias holder and
the newest former holders stay, the rest is deleted with its artifacts, ``mlflow gc`` purges
the deleted runs, and the metric history of every snapshot stays readable."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

import boto3
import pytest
import requests
from mlflow.exceptions import MlflowException

from coelho.domains import get
from coelho.registry import Registry
from coelho.retention import ALIASES_TAG, HISTORY_TAG
from tests.integration.conftest import MLFLOW_SERVERS, Checkpoints, trained

KEEP, KEEP_HELD = 1, 1


def tick(base: str, force: bool = False) -> dict[str, Any]:
    headers = {"ce-specversion": "1.0", "ce-type": "dev.knative.sources.ping",
               "ce-source": "/apis/v1/namespaces/coelho/pingsources/snapshot",
               "ce-id": str(uuid.uuid4()), "Content-Type": "application/json"}  # fmt: skip
    body = json.dumps({"domains": ["tfd"], **({"force": True} if force else {})})
    answer = requests.post(f"{base}/?wait=1", data=body, headers=headers, timeout=300)
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["tfd"])


@pytest.fixture
def snapshot_fn(spawn_function: Any, mlflow_server: str, registry: Any) -> str:
    # No automatic promotion: the test moves the champion itself, as `coelho promote` does.
    env = {"MLFLOW_TRACKING_URI": mlflow_server, "COELHO_PROMOTE_MIN_EVENTS": "1000000000",
           "COELHO_REGISTRY_KEEP": str(KEEP), "COELHO_REGISTRY_KEEP_HELD": str(KEEP_HELD),
           "COELHO_SNAPSHOT_MIN_EVENTS": "100",
           "COELHO_SNAPSHOT_MIN_SECONDS": "0"}  # fmt: skip
    return str(spawn_function("snapshot", env, ready="/health/readiness"))


def test_only_the_newest_and_the_alias_holders_stay_and_the_rest_is_deleted_everywhere(
    snapshot_fn: str, checkpoints: Checkpoints, registry: Any, mlflow_server: str, s3_server: Any
) -> None:
    reports, models = [], {}
    started_ms = int(time.time() * 1000)  # the history run may hold other tests' snapshots
    for n, force in [(200, False), (250, False), (400, False), (600, False), (800, False),
                     (810, True)]:  # fmt: skip
        checkpoints.save("tfd", trained("tfd", n))
        report = tick(snapshot_fn, force)
        reports.append(report)
        if report["status"] == "registered":
            models[report["version"]] = registry.get_model_version("tfd-river", report["version"])
            if report["version"] in (1, 2, 3):  # champion: v1, then v2, then v3
                Registry(mlflow_server).promote("tfd", report["version"], "manual: test")
    assert reports[1]["status"] == "not-due", reports[1]
    assert "only 50 events since the newest version (< 100)" in reports[1]["reason"]
    registered = [r for r in reports if r["status"] == "registered"]
    assert [r["version"] for r in registered] == [1, 2, 3, 4, 5]  # 810: forced
    assert not any(r["promoted"] for r in registered)

    assert registry.get_model_version_by_alias("tfd-river", "champion").version == "3"
    kept = {5, 3, 2}  # newest, holder, newest former holder (v1 held it longer ago)
    remaining = {int(mv.version) for mv in registry.search_model_versions("name='tfd-river'")}
    assert remaining == kept
    deleted = set(models) - kept
    assert deleted == {1, 4}
    assert sorted(v for r in registered for v in r["pruned"]) == sorted(deleted)
    for version in (2, 3):
        mv = registry.get_model_version("tfd-river", str(version))
        assert "champion" in mv.tags[ALIASES_TAG].split(",")

    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1",
                      aws_access_key_id=s3_server.credentials.access_key,
                      aws_secret_access_key=s3_server.credentials.secret_key)  # fmt: skip
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket="mlflow-artifacts")
    keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    for version, mv in models.items():
        model_id = mv.model_id or str(mv.source).removeprefix("models:/")
        mine = [k for k in keys if model_id in k or mv.run_id in k]
        if version in kept:
            assert any(k.endswith("/state.pkl") for k in mine), (version, mine)
            assert registry.get_run(mv.run_id).info.lifecycle_stage == "active"
        else:
            assert mine == [], (version, mine)
            assert registry.get_run(mv.run_id).info.lifecycle_stage == "deleted"

    # Every snapshot's metrics, pruned or not, stay in the domain's history run.
    (history,) = registry.search_runs(
        [registry.get_experiment_by_name(get("tfd").title).experiment_id],
        f"tags.`{HISTORY_TAG}` = 'true'",
    )
    points = registry.get_metric_history(history.info.run_id, "ROCAUC")
    steps = [m.step for m in sorted(points, key=lambda m: m.timestamp) if m.timestamp >= started_ms]
    assert steps == [r["events_learned"] for r in registered]

    server = MLFLOW_SERVERS[mlflow_server]
    result = server.gc()
    assert result.returncode == 0, result.stdout + result.stderr
    with sqlite3.connect(server.data_dir / "mlflow.db") as db:  # what MLflow keeps of a version
        tags = db.execute("SELECT version, count(*) FROM model_version_tags WHERE name = "
                          "'tfd-river' GROUP BY version").fetchall()  # fmt: skip
    assert {version for version, _ in tags} == kept  # a deleted version's tombstone: no tags
    for version in deleted:
        with pytest.raises(MlflowException):
            registry.get_run(models[version].run_id)
    assert registry.get_run(models[5].run_id).info.lifecycle_stage == "active"
