"""WriterProcess supervision with stand-in children (no Redis): restart with backoff, stale
status ignored, EOF stops the child."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import pytest

from coelho.state import sidecar
from coelho.state.sidecar import WriterProcess

# Exits at once with code 3, whatever its arguments.
FAILING = [sys.executable, "-c", "import sys; sys.exit(3)"]
# Reports holding the lease, then waits for EOF on stdin like the real writer.
HOLDING = [sys.executable, "-c", (
    "import json, sys, pathlib; d = pathlib.Path(sys.argv[2]);"
    "(d / 'status.json').write_text(json.dumps({'holding': True, 'error': None}));"
    "(d / 'metrics.prom').write_text('coelho_is_writer{domain=\"tfd\"} 1.0\\n');"
    "sys.stdin.buffer.read()"
)]  # fmt: skip


def _until(predicate: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail(f"never: {what}")


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecar, "CHECK_SECONDS", 0.0)
    monkeypatch.setattr(sidecar, "FIRST_RESTART_DELAY", 0.05)


def test_a_failing_child_is_restarted_with_growing_delays() -> None:
    writer = WriterProcess("tfd", command=FAILING)
    starts = 0
    try:
        writer.ensure()
        delays = []
        deadline = time.monotonic() + 30
        while len(delays) < 3 and time.monotonic() < deadline:
            proc = writer._proc
            if proc is not None and proc.poll() is not None:
                writer.ensure()  # notices the exit and schedules the restart
                delays.append(writer._next_start - time.monotonic())
                assert writer.exit_code == 3 and not writer.status().running
                assert writer.metrics() is None
                _until(lambda: writer.ensure() or writer._proc is not None, "a restart")
                starts += 1
            time.sleep(0.01)
        assert starts == 3
        assert delays[0] < delays[1] < delays[2]  # 0.05, 0.1, 0.2 s: backoff, not a hot loop
    finally:
        writer.stop()
    assert not writer.dir.exists()


def test_status_and_metrics_come_from_a_live_child_only() -> None:
    writer = WriterProcess("tfd", command=HOLDING)
    try:
        writer.ensure()
        _until(lambda: writer.status().holding, "the child reports holding")
        assert writer.metrics() == b'coelho_is_writer{domain="tfd"} 1.0\n'
        proc = writer._proc
        assert proc is not None
        proc.kill()
        proc.wait()
        # The files still say "holding", but a dead child holds nothing.
        assert json.loads((writer.dir / "status.json").read_text())["holding"]
        assert not writer.status().holding and writer.metrics() is None
    finally:
        writer.stop()


def test_stop_closes_the_pipe_and_the_child_exits() -> None:
    writer = WriterProcess("tfd", command=HOLDING)
    writer.ensure()
    proc = writer._proc
    assert proc is not None
    _until(lambda: writer.status().holding, "the child reports holding")
    writer.stop(timeout=10)
    assert proc.returncode == 0  # it left on EOF, not killed
