"""The emulator's local job-sink (coelho.eventing.jobsink) with real subprocesses.

What Knative's job-sink guarantees and the trainer relies on: one Job per CloudEvent
(source, id) however often it is delivered, the event as a structured-JSON file, a status per
job like job-sink's GET, ``backoffLimit`` retries, and SIGTERM at ``activeDeadlineSeconds``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from coelho.eventing import model as m
from coelho.eventing.cloudevent import Event
from coelho.eventing.jobsink import EVENT_ENV, JobCommand, JobSinkRunner, job_name

# Appends the event it was given to runs.jsonl, then exits with EXIT (or sleeps for SLEEP).
SCRIPT = """
import json, os, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: (open(os.environ["OUT"] + ".term", "w").close(),
                                          sys.exit(143)))
event = json.loads(open(os.environ["COELHO_JOBSINK_EVENT"]).read())
mode = os.environ.get("KNATIVE_EXECUTION_MODE")
with open(os.environ["OUT"], "a") as out:
    out.write(json.dumps({"event": event, "mode": mode}) + "\\n")
time.sleep(float(os.environ.get("SLEEP", "0")))
sys.exit(int(os.environ.get("EXIT", "0")))
"""


def runner(tmp_path: Path, backoff: int = 0, deadline: float | None = None,
           **env: str) -> JobSinkRunner:  # fmt: skip
    meta = m.Meta("JobSink", "train", "coelho", "test.yaml")
    sink = m.JobSink(meta, "train", backoff_limit=backoff, active_deadline=deadline,
                     termination_grace=5.0)  # fmt: skip
    env = {"OUT": str(tmp_path / "runs.jsonl"), **env}
    command = JobCommand((sys.executable, "-c", SCRIPT), str(tmp_path), env, str(tmp_path / "jobs"))
    return JobSinkRunner(sink, command)


def event(event_id: str = "r-1") -> Event:
    attrs = {"specversion": "1.0", "type": "coelho.batch.train.requested",
             "source": "coelho.test", "id": event_id, "domain": "eta",
             "datacontenttype": "application/json"}  # fmt: skip
    return Event(attrs, json.dumps({"domain": "eta", "max_rows": 10}).encode())


def wait_state(sink: JobSinkRunner, event_id: str, timeout: float = 60) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while (found := sink.status("coelho.test", event_id))[0] == 202:
        assert time.monotonic() < deadline, f"job {event_id} still running"
        time.sleep(0.05)
    return found


def runs(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_one_job_per_event_however_often_it_is_delivered(tmp_path: Path) -> None:
    sink = runner(tmp_path)
    try:
        status, location = sink.receive(event())
        assert status == 202
        assert location == "/namespaces/coelho/name/train/sources/coelho.test/ids/r-1"
        assert sink.receive(event()) == (202, location)  # a redelivery: the same job
        assert wait_state(sink, "r-1") == (200, "Complete")
        assert sink.receive(event()) == (202, location)  # even after it ended
        time.sleep(0.3)
        (run,) = runs(tmp_path)
        assert run["event"]["id"] == "r-1" and run["event"]["data"] == {
            "domain": "eta",
            "max_rows": 10,
        }
        assert run["event"]["domain"] == "eta" and run["mode"] == "batch"
        assert sink.status("coelho.test", "unknown") == (404, "")
        assert sink.stats() == {"jobs": 1, "running": 0, "complete": 1, "failed": 0}
    finally:
        sink.stop(5)


def test_a_failed_job_is_retried_up_to_the_backoff_limit(tmp_path: Path) -> None:
    sink = runner(tmp_path, backoff=1, EXIT="1")
    sink._stopping.wait = lambda delay: False  # type: ignore[method-assign]  # no 10 s back-off
    try:
        sink.receive(event("r-2"))
        assert wait_state(sink, "r-2") == (400, "Failed")
        assert len(runs(tmp_path)) == 2  # the first attempt and one retry
        (job,) = sink.jobs.values()
        assert job.reason == "BackoffLimitExceeded" and job.attempts == 2
    finally:
        sink.stop(5)


def test_the_deadline_terminates_the_job(tmp_path: Path) -> None:
    sink = runner(tmp_path, deadline=1.0, SLEEP="30")
    try:
        started = time.monotonic()
        sink.receive(event("r-3"))
        assert wait_state(sink, "r-3", timeout=30) == (400, "Failed")
        assert time.monotonic() - started < 15
        (job,) = sink.jobs.values()
        assert job.reason == "DeadlineExceeded"
        assert (tmp_path / "runs.jsonl.term").exists(), "the job got SIGTERM, not SIGKILL"
    finally:
        sink.stop(5)


@pytest.mark.parametrize("source", ["coelho.cli", "a/very/long/source/" + "x" * 80])
def test_job_names_are_dns_labels(source: str) -> None:
    name = job_name("train", source, "5e31f076-65ef-4ad9-9cef-e33976b4917c")
    assert len(name) <= 63 and name.replace("-", "").isalnum() and name == name.lower()


def test_the_event_file_variable_is_the_one_the_trainer_reads() -> None:
    from coelho.settings import BatchSettings

    assert EVENT_ENV == "COELHO_JOBSINK_EVENT"
    assert str(BatchSettings.from_env().event_file) == "/etc/jobsink-event/event"
