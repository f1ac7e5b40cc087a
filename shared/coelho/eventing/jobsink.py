"""The local job-sink: one subprocess per CloudEvent, the event in a file, like Knative's Jobs.

Knative's job-sink receives an event over HTTP, creates a Job from the JobSink's template
unless one exists for the event's (source, id) (then it answers 202 again: at-least-once
delivery becomes one Job per event), mounts the event as structured JSON at
``/etc/jobsink-event/event`` and answers 202 with a ``Location``. Here:

- ``receive`` does the same with a local ``LocalJob``: the event is written to
  ``<logs>/<job>/event`` and the JobSink's command (from the jobs map given at start) runs with
  ``COELHO_JOBSINK_EVENT`` naming that file and ``KNATIVE_EXECUTION_MODE=batch`` (what
  Knative's JobSink defaulting adds to every container); its output goes to ``<logs>/<job>/log``;
- a process that exits non-zero is started again up to ``backoffLimit`` times, after Kubernetes'
  back-off (10 s doubling, at most 6 min); one that outlives ``activeDeadlineSeconds`` gets
  SIGTERM, then SIGKILL after the pod's ``terminationGracePeriodSeconds``, as the kubelet does;
- ``status`` answers like job-sink's GET: 200 Complete, 400 Failed, 202 running, 404 unknown;
- ``stop`` (the emulator stopping) terminates running jobs the same way.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coelho.eventing import model as m
from coelho.eventing.cloudevent import Event, to_structured

log = logging.getLogger(__name__)
EVENT_ENV = "COELHO_JOBSINK_EVENT"
_NOT_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class JobCommand:
    """How to run one JobSink's container locally (an entry of the jobs map)."""

    argv: tuple[str, ...]
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    logs: str | None = None

    @classmethod
    def from_json(cls, name: str, raw: Any) -> JobCommand:
        from coelho.eventing.errors import EventingError

        if not isinstance(raw, dict) or not isinstance(raw.get("argv"), list) or not raw["argv"]:
            raise EventingError(f'jobs map: {name}: expected {{"argv": [...], ...}}')
        env = raw.get("env") or {}
        return cls(tuple(str(a) for a in raw["argv"]), raw.get("cwd"),
                   {str(k): str(v) for k, v in env.items()}, raw.get("logs"))  # fmt: skip


@dataclass
class LocalJob:
    name: str
    source: str
    id: str
    folder: Path
    state: str = "running"  # running, complete, failed
    reason: str = ""
    attempts: int = 0
    process: subprocess.Popen[bytes] | None = None
    created: float = field(default_factory=time.time)


def job_name(sink: str, source: str, event_id: str) -> str:
    """``<sink>-<source>-<id>`` made a DNS label (at most 63 characters with the suffix)."""
    base = _NOT_NAME.sub("-", f"{sink}-{source}-{event_id}".lower()).strip("-")[:57].rstrip("-")
    return f"{base}-{secrets.token_hex(2)}"


class JobSinkRunner:
    def __init__(self, sink: m.JobSink, command: JobCommand) -> None:
        self.sink = sink
        self.command = command
        self.logs = Path(command.logs or Path.cwd() / ".coelho-jobs")
        self.jobs: dict[tuple[str, str], LocalJob] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def name(self) -> str:
        return f"{self.sink.meta.namespace}/{self.sink.meta.name}"

    def location(self, job: LocalJob) -> str:
        meta = self.sink.meta
        return f"/namespaces/{meta.namespace}/name/{meta.name}/sources/{job.source}/ids/{job.id}"

    def receive(self, event: Event) -> tuple[int, str]:
        """(HTTP status, Location) for one delivered event; one job per (source, id)."""
        key = (event.attrs["source"], event.attrs["id"])
        with self._lock:
            known = self.jobs.get(key)
            if known is not None or self._stopping.is_set():
                return (202, self.location(known)) if known else (503, "")
            job = LocalJob(job_name(self.sink.meta.name, *key), key[0], key[1], self.logs)
            job.folder = self.logs / job.name
            job.folder.mkdir(parents=True, exist_ok=True)
            (job.folder / "event").write_bytes(to_structured(event)[1])
            self.jobs[key] = job
        threading.Thread(target=self._run, args=(job,), name=f"job-{job.name}",
                         daemon=True).start()  # fmt: skip
        log.info("JobSink %s: job %s for %s/%s", self.name, job.name, *key)
        return 202, self.location(job)

    def status(self, source: str, event_id: str) -> tuple[int, str]:
        job = self.jobs.get((source, event_id))
        if job is None:
            return 404, ""
        return {"complete": (200, "Complete"), "failed": (400, "Failed")}.get(job.state, (202, ""))

    def _run(self, job: LocalJob) -> None:
        delay = 10.0
        while not self._stopping.is_set():
            job.attempts += 1
            code = self._attempt(job)
            if code == 0:
                job.state = "complete"
                break
            if job.reason == "DeadlineExceeded" or job.attempts > self.sink.backoff_limit:
                job.state, job.reason = "failed", job.reason or "BackoffLimitExceeded"
                break
            if self._stopping.wait(delay):
                break
            delay = min(delay * 2, 360.0)
        if job.state == "running":
            job.state, job.reason = "failed", job.reason or "Terminated"
        log.info("JobSink %s: job %s %s after %d attempt(s)%s", self.name, job.name, job.state,
                 job.attempts, f" ({job.reason})" if job.reason else "")  # fmt: skip

    def _attempt(self, job: LocalJob) -> int:
        env = {**os.environ, **self.command.env, EVENT_ENV: str(job.folder / "event"),
               "KNATIVE_EXECUTION_MODE": "batch"}  # fmt: skip
        with open(job.folder / "log", "ab") as out:
            process = subprocess.Popen(
                list(self.command.argv), cwd=self.command.cwd, env=env, stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            job.process = process
            deadline = self.sink.active_deadline
            started = time.monotonic()
            while process.poll() is None:
                if deadline is not None and time.monotonic() - started > deadline:
                    job.reason = "DeadlineExceeded"
                    self._terminate(process)
                elif self._stopping.is_set():
                    self._terminate(process)
                time.sleep(0.2)
        return int(process.returncode)

    def _terminate(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM, then SIGKILL after the pod's grace period, as the kubelet does."""
        if process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(self.sink.termination_grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def stop(self, grace: float) -> None:
        """Terminate every running job (the emulator is stopping)."""
        self._stopping.set()
        running = [j for j in self.jobs.values() if j.process and j.process.poll() is None]
        for job in running:
            if job.process is not None:
                job.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + max(grace, 0.0)
        for job in running:
            assert job.process is not None
            try:
                job.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                job.process.kill()

    def stats(self) -> dict[str, Any]:
        states = [j.state for j in self.jobs.values()]
        return {"jobs": len(states), **{s: states.count(s) for s in ("running", "complete",
                                                                      "failed")}}  # fmt: skip
