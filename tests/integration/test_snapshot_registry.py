"""Snapshot function -> MLflow run -> registered version -> aliases, on a real MLflow + S3.

One module-scoped scenario keeps the (slow) MLflow round trips few: the snapshot function
registers tfd, the artifacts land in the S3 bucket, the registered version loads with
``mlflow.pyfunc.load_model`` and serves through ``mlflow models serve``, an unchanged state
is not registered again, and the promotion policy and ``coelho promote`` move ``champion``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from typing import Any

import pandas as pd
import pytest
import requests

from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from tests.integration.conftest import Checkpoints, predict_request, trained


def tick(base: str, domains: list[str] | None = None, wait: bool = True) -> requests.Response:
    """A PingSource tick as the emulator sends it (binary-mode CloudEvent)."""
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.sources.ping",
        "ce-source": "/apis/v1/namespaces/coelho/pingsources/snapshot",
        "ce-id": str(uuid.uuid4()),
        "Content-Type": "application/json",
    }
    body = json.dumps({"domains": domains} if domains else {})
    params = {"wait": "1"} if wait else {}
    return requests.post(f"{base}/", data=body, headers=headers, params=params, timeout=300)


@pytest.fixture
def snapshot_fn(spawn_function: Any, mlflow_server: str, registry: Any) -> str:
    return str(
        spawn_function(
            "snapshot",
            # Every moved state is registered (thresholds: test_registry_retention.py).
            {
                "MLFLOW_TRACKING_URI": mlflow_server,
                "COELHO_PROMOTE_MIN_EVENTS": "100",
                "COELHO_SNAPSHOT_MIN_EVENTS": "0",
                "COELHO_SNAPSHOT_MIN_SECONDS": "0",
            },
            ready="/health/readiness",
        )
    )


def test_snapshot_registers_a_real_pyfunc_model_with_its_artifact_in_s3(
    snapshot_fn: str, checkpoints: Checkpoints, registry: Any, s3_server: Any, tmp_path: Any
) -> None:
    model = trained("tfd", 300)
    state_version = checkpoints.save("tfd", model)
    report = tick(snapshot_fn).json()
    assert report["tfd"]["status"] == "registered", report
    assert report["eta"] == {"status": "no-state"} and report["ecci"] == {"status": "no-state"}
    assert report["tfd"]["promoted"] is True and report["tfd"]["version"] == 1

    mv = registry.get_model_version("tfd-river", "1")
    assert mv.tags["coelho.state_version"] == str(state_version)
    assert json.loads(mv.tags["coelho.offsets"]) == {"transaction_fraud_detection": {"0": 299}}
    assert registry.get_model_version_by_alias("tfd-river", "champion").version == "1"
    run = registry.get_run(mv.run_id)
    assert run.data.params["model"] == "logreg"
    assert "LogisticRegression" in run.data.params["pipeline"]
    assert run.data.tags["kafka.offset.transaction_fraud_detection.0"] == "299"
    assert run.data.tags["coelho.state_version"] == str(state_version)
    history = registry.get_metric_history(mv.run_id, "ROCAUC")
    assert [(m.step, m.value) for m in history] == [(300, model.metric_values()["ROCAUC"])]

    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint, region_name="us-east-1",
                      aws_access_key_id=s3_server.credentials.access_key,
                      aws_secret_access_key=s3_server.credentials.secret_key)  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mlflow-artifacts")["Contents"]]
    assert any(k.endswith("/artifacts/state.pkl") for k in keys), keys
    assert any(k.endswith("/MLmodel") for k in keys), keys

    import mlflow.pyfunc

    events = [predict_request("tfd", seed) for seed in range(5)]
    loaded = mlflow.pyfunc.load_model("models:/tfd-river/1")
    got = loaded.predict(pd.DataFrame(events))
    expected = pd.DataFrame([model.predict(e) for e in events])
    pd.testing.assert_frame_equal(got, expected, rtol=1e-9)

    _serves_over_http("models:/tfd-river@champion", events, expected, tmp_path)

    again = tick(snapshot_fn, ["tfd"]).json()
    assert again["tfd"] == {"status": "unchanged", "state_version": state_version, "version": 1}
    assert len(registry.search_model_versions("name='tfd-river'")) == 1


def _serves_over_http(uri: str, events: list[Any], expected: Any, tmp_path: Any) -> None:
    """``mlflow models serve`` answers /invocations with the same predictions."""
    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager",
            "local", "-h", HOST, "-p", str(port), "-w", "1"]  # fmt: skip
    # It execs ``uvicorn`` by name: the venv's bin must be on PATH.
    path = f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path}
    child = Child("mlflow-serve", argv, log_path=tmp_path / "serve.log", env=env)
    child.start()
    try:
        child.wait_ready(lambda: http_ok(f"http://{HOST}:{port}/ping"), timeout=120, what="ping")
        answer = requests.post(
            f"http://{HOST}:{port}/invocations",
            json={"dataframe_records": events},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        got = pd.DataFrame(answer.json()["predictions"])
        pd.testing.assert_frame_equal(got, expected, rtol=1e-9)
    finally:
        child.stop(timeout=10)


def test_policy_and_forced_promotion_move_the_champion_alias(
    snapshot_fn: str, checkpoints: Checkpoints, registry: Any, mlflow_server: str
) -> None:
    from coelho.promotion import decide, promotion_metric

    checkpoints.save("eta", trained("eta", 200))
    first = tick(snapshot_fn, ["eta"]).json()["eta"]
    assert (first["status"], first["version"], first["promoted"]) == ("registered", 1, True)
    checkpoints.save("eta", trained("eta", 50, seed=3))  # a new lineage, too young to promote
    second = tick(snapshot_fn, ["eta"]).json()["eta"]
    assert (second["version"], second["promoted"]) == (2, False)
    assert "only 50 events learned" in second["reason"]
    better = trained("eta", 900)
    checkpoints.save("eta", better)
    third = tick(snapshot_fn, ["eta"]).json()["eta"]
    metric, higher = promotion_metric("eta")
    champion = json.loads(registry.get_model_version("eta-river", "1").tags["coelho.metrics"])
    assert (
        third["promoted"] == decide(metric, higher, better.metric_values(), 900, champion, 100)[0]
    )
    assert registry.get_model_version_by_alias("eta-river", "champion").version == (
        "3" if third["promoted"] else "1"
    )
    from coelho.cli import main

    assert main(["promote", "eta", "2"]) == 0
    mv = registry.get_model_version_by_alias("eta-river", "champion")
    assert mv.version == "2" and mv.tags["coelho.promotion"].startswith("manual")
    assert main(["promote", "eta", "42"]) != 0


def test_ticks_are_answered_at_once_and_the_work_done_in_the_background(
    snapshot_fn: str, checkpoints: Checkpoints, registry: Any
) -> None:
    checkpoints.save("ecci", trained("ecci", 300))
    response = tick(snapshot_fn, ["ecci"], wait=False)
    assert (response.status_code, response.text) == (202, "")
    deadline = time.monotonic() + 180
    while not registry.search_model_versions("name='ecci-river'"):
        if time.monotonic() >= deadline:
            pytest.fail("no ecci version registered after waiting 180 s")
        time.sleep(0.5)
    bad = requests.post(f"{snapshot_fn}/", data=b"{}", timeout=10,
                        headers={"ce-specversion": "1.0", "ce-type": "dev.knative.kafka.event",
                                 "ce-source": "x", "ce-id": "1"})  # fmt: skip
    assert (bad.status_code, bad.json()["field"]) == (400, "type")
