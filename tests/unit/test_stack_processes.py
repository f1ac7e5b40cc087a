"""Child processes: logs, readiness failures that quote the log, and group-wide stop."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from coelho.stack import stackfile
from coelho.stack.processes import Child, StartupError, pid_alive


def test_output_goes_to_the_log_and_exit_is_reported(tmp_path: Path) -> None:
    child = Child("echo", [sys.executable, "-c", "print('hello'); raise SystemExit(3)"],
                  log_path=tmp_path / "logs" / "echo.log").start()  # fmt: skip
    with pytest.raises(StartupError, match=r"(?s)echo: exited with code 3.*hello"):
        child.wait_ready(lambda: False, timeout=30, what="ready")
    assert child.returncode() == 3


def test_readiness_timeout_names_the_child(tmp_path: Path) -> None:
    child = Child("sleeper", ["sleep", "30"], log_path=tmp_path / "s.log").start()
    try:
        with pytest.raises(StartupError, match="sleeper: not ready after 0 s"):
            child.wait_ready(lambda: False, timeout=0.3, what="ready")
    finally:
        child.stop(timeout=5)


def test_stop_takes_the_whole_process_group(tmp_path: Path) -> None:
    """Checks that a grandchild (like a gunicorn worker) does not outlive the stop."""
    pid_file = tmp_path / "grandchild.pid"
    script = f"sleep 60 & echo $! > {pid_file}; wait"
    child = Child("group", ["sh", "-c", script], log_path=tmp_path / "g.log").start()
    child.wait_ready(lambda: pid_file.exists() and pid_file.read_text().strip() != "",
                     timeout=10, what="forked")  # fmt: skip
    grandchild = int(pid_file.read_text())
    assert pid_alive(grandchild)
    child.stop(timeout=5)
    assert not child.alive()
    deadline = time.monotonic() + 10
    while pid_alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(grandchild)


def test_a_missing_executable_is_named(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="no-such-binary"):
        Child("x", ["no-such-binary"], log_path=tmp_path / "x.log").start()


def test_stack_file_is_live_only_while_its_pid_is(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    stackfile.write(path, {"pid": os.getpid(), "services": {"kafka": "127.0.0.1:1"}})
    assert stackfile.running(path) == stackfile.read(path)
    dead = Child("done", ["true"], log_path=tmp_path / "d.log").start()
    assert dead.proc is not None
    dead.proc.wait()
    stackfile.write(path, {"pid": dead.proc.pid})
    assert stackfile.running(path) is None
    path.write_text("{not json")
    assert stackfile.read(path) is None
