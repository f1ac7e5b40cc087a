"""The learn function's writer child (coelho.state.sidecar), against real processes and Redis:
its metrics reach the function's ``/metrics``, and it never outlives its function.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from coelho.state import Keys
from tests.integration.test_exactly_once import Replicas, _events, deliver, wait_checkpoint


def _parent(pid: int) -> int:
    stat = (Path("/proc") / str(pid) / "stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has exited)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _writer_pids(master: int) -> dict[int, int]:
    """pid -> parent pid of the writer children under the functions-framework ``master``.

    Other writers may run meanwhile (a session-wide stack of another test): only ours count.
    """
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"coelho.state.sidecar" not in (entry / "cmdline").read_bytes().split(b"\0"):
                continue
            worker = _parent(int(entry.name))
            if _parent(worker) == master:
                found[int(entry.name)] = worker
        except OSError:
            continue
    return found


def _samples(url: str) -> dict[str, float]:
    text = requests.get(f"{url}metrics", timeout=5).text
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.labels.get("domain") == "ecci" and "metric" not in sample.labels
    }


def test_writer_child_serves_metrics_and_dies_with_its_function(
    redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    group = Replicas("learn-ecci", redis_url, tmp_path, 1)
    group.start(0)
    try:
        deadline = time.monotonic() + 60
        for i, event in enumerate(_events("ecci", 40)):
            assert deliver(group.urls, "ecci", i, event, deadline) == 202
        wait_checkpoint(redis_client, "ecci", 40)

        want = {"coelho_events_learned_total": 40.0, "coelho_is_writer": 1.0,
                "coelho_events_received_total": 40.0}  # fmt: skip
        samples: dict[str, float] = {}
        while time.monotonic() < deadline:
            samples = _samples(group.urls[0])
            if all(samples.get(name) == value for name, value in want.items()):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"/metrics never showed {want}: {samples}")

        master = group.children[0].proc
        assert master is not None
        writers = _writer_pids(master.pid)
        assert len(writers) == 1, writers
        [(writer, worker)] = writers.items()
        os.kill(worker, signal.SIGKILL)  # the serving process only, not its process group
        while time.monotonic() < deadline + 30 and _alive(writer):
            time.sleep(0.1)
        if _alive(writer):
            pytest.fail(f"writer {writer} outlived its function process {worker}")
        # It stopped on EOF of its pipe: checkpointed and handed the lease over at once.
        assert redis_client.get(Keys("ecci").lease) is None
    finally:
        group.stop_all()
