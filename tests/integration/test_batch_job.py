"""The local face of the cluster's training path, end to end, against real Redis/MinIO/MLflow.

`coelho train ecci --wait` sends the CloudEvent to the emulated Broker's ingress; the Trigger
`train` (eventing/500-train.yaml, as committed) delivers it to the JobSink, which runs
`python functions/train/main.py` with the event in a file, as Knative's job-sink runs a Job
with the event mounted. The CLI follows the training in Redis and prints its report.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from coelho.eventing import Emulator
from coelho.eventing.jobsink import JobCommand
from tests.conftest import REPO
from tests.helpers import rewrite_manifests
from tests.integration.test_batch_training import Lake, archive, seeded


def start_emulator(tmp_path: Path, env: dict[str, str]) -> tuple[Emulator, str]:
    """The emulator on the committed eventing/ YAML with the trainer as the JobSink's command;
    (it, the Broker's ingress URL)."""
    manifests = rewrite_manifests(tmp_path / "eventing", group_suffix="batch", only_sources=set(),
                                  jobs=True)  # fmt: skip
    command = JobCommand((sys.executable, "functions/train/main.py"), str(REPO), env,
                         str(tmp_path / "jobs"))  # fmt: skip
    # Nothing but the training request flows here: the other Triggers' Services never answer.
    text = (manifests / "eventing.yaml").read_text()
    services = {name: "http://127.0.0.1:9/" for name in re.findall(r"name: ([a-z0-9-]+)", text)}
    emulator = Emulator(manifests, "127.0.0.1:9", services, jobs={"train": command}).start()
    assert emulator.control is not None
    return emulator, f"http://127.0.0.1:{emulator.control.port}/coelho/coelho"


def test_coelho_train_wait_runs_the_job_through_broker_trigger_and_job_sink(
    s3_server: Any, redis_url: str, mlflow_server: str, tmp_path: Path
) -> None:
    """The local face of the cluster path: `coelho train ecci --wait` -> CloudEvent to the
    emulated Broker -> Trigger `train` -> JobSink -> `python functions/train/main.py` with the
    event file; the CLI prints progress, the K search, metrics and the River-vs-batch table."""
    lake = Lake(s3_server, redis_url, 6)
    archive(lake.client, lake.storage, "ecci", seeded("ecci", 1200))
    env = {**lake.env, "MLFLOW_TRACKING_URI": mlflow_server, "COELHO_HOME": str(tmp_path)}
    emulator, broker = start_emulator(tmp_path, env)
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "coelho.cli", "train", "ecci", "--max-rows", "1000", "--wait"],
            env={**os.environ, **env, "COELHO_BROKER_URL": broker}, capture_output=True,
            text=True, timeout=300, cwd=REPO,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stdout + cli.stderr
        out = cli.stdout
        assert "requested training" in out and "K=2 " in out and "K=10 " in out, out
        assert "100.0%  done:" in out, out  # the progress bar's last state
        assert "done: registered ecci-batch version" in out
        assert "River (" in out and "baseline" in out and "better" in out
        assert "Silhouette" in out and "1,000 rows (800 train, 200 holdout)" in out
        deadline = time.monotonic() + 60  # the job process exits just after its last write
        while (stats := emulator.stats()["job_sinks"]["coelho/train"])["running"]:
            assert time.monotonic() < deadline, stats
            time.sleep(0.2)
        assert stats["jobs"] == 1 and stats["complete"] == 1, stats
    finally:
        emulator.stop()
    (log,) = (tmp_path / "jobs").glob("*/log")
    assert "k_search" in log.read_text()


def test_sigterm_stops_the_job_and_registers_nothing(
    s3_server: Any, redis_url: str, mlflow_server: str, tmp_path: Path
) -> None:
    """The emulator stopping (as a Job deleted or past its deadline) sends the trainer SIGTERM:
    it stops at its next step, records `stopped`, and no version carries its request."""
    from mlflow import MlflowClient

    from coelho.batch.request import TrainRequest, submit
    from coelho.batch.status import TrainingStatus, request_state

    lake = Lake(s3_server, redis_url, 7)
    archive(lake.client, lake.storage, "ecci", seeded("ecci", 1200))
    env = {**lake.env, "MLFLOW_TRACKING_URI": mlflow_server}
    emulator, broker = start_emulator(tmp_path, env)
    request = TrainRequest.new("ecci", source="coelho.test")
    try:
        submit(lake.client, broker, request)
        status = TrainingStatus(lake.client, "ecci")
        deadline = time.monotonic() + 120
        while (current := status.read()).get("request_id") != request.request_id or current.get(
            "stage"
        ) not in ("k_search", "evaluating"):
            assert time.monotonic() < deadline, current
            time.sleep(0.05)
    finally:
        emulator.stop(grace=60)
    state = request_state(lake.client, request.request_id)
    assert state["state"] == "stopped", state
    assert "nothing was registered" in state["message"]
    versions = MlflowClient(mlflow_server).search_model_versions("name='ecci-batch'")
    assert all(v.tags.get("coelho.request_id") != request.request_id for v in versions)
