"""Controlling a stack from outside: ``up --detach``, ``down`` and finding the running one.

A detached supervisor is ``coelho up`` in a new session with its output in
``<home>/logs/supervisor.log``; the caller mirrors its progress from ``stack.json`` and
returns once the stack is ready. ``down`` signals the pid in ``stack.json`` and waits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any, TextIO

from coelho.stack import stackfile
from coelho.stack.config import StackConfig
from coelho.stack.processes import StartupError, pid_alive
from coelho.stack.render import progress_line


class NotRunning(RuntimeError):
    """No live supervisor owns this stack home."""


def running_stack(config: StackConfig) -> dict[str, Any]:
    """The ``stack.json`` of the live supervisor of ``config.home``, or ``NotRunning``."""
    data = stackfile.running(config.stack_file)
    if data is None:
        raise NotRunning(f"no stack running in {config.home} (start one with `coelho up`)")
    return data


def refuse_second_stack(config: StackConfig) -> None:
    data = stackfile.running(config.stack_file)
    if data is not None:
        raise StartupError(
            f"a stack is already running in {config.home} (pid {data['pid']}); "
            "stop it with `coelho down` first"
        )
    config.stack_file.unlink(missing_ok=True)  # stale: its supervisor is gone


def detach(
    config: StackConfig, *, producers: bool, out: TextIO = sys.stdout, timeout: float = 900.0
) -> dict[str, Any]:
    """Start a supervisor in the background; return its stack file once it is ready."""
    refuse_second_stack(config)
    config.logs.mkdir(parents=True, exist_ok=True)
    log_path = config.logs / "supervisor.log"
    argv = [sys.executable, "-m", "coelho.cli", "up"] + ([] if producers else ["--no-producers"])
    env = {**os.environ, "COELHO_HOME": str(config.home), "COELHO_REPO": str(config.repo)}
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=config.repo,
            start_new_session=True,
        )
    shown = 0
    deadline = time.monotonic() + timeout
    while True:
        data = stackfile.read(config.stack_file)
        if data is not None and data.get("pid") == proc.pid:
            progress = data.get("progress") or []
            for step in progress[shown:]:
                print(progress_line(step["name"], step["address"], step["seconds"]), file=out)
            out.flush()
            shown = len(progress)
            if data.get("state") == "ready":
                return data
        if proc.poll() is not None:
            raise StartupError(
                f"supervisor exited with code {proc.returncode} while starting; "
                f"log {log_path}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            os.kill(proc.pid, signal.SIGTERM)
            raise StartupError(f"stack not ready after {timeout:.0f} s; log {log_path}")
        time.sleep(0.3)


def down(config: StackConfig, *, timeout: float = 120.0) -> list[int]:
    """SIGTERM the supervisor, wait for it and its children; returns the pids it stopped.

    A supervisor that does not exit in time is killed, and so are its remaining children.
    """
    data = stackfile.running(config.stack_file)
    if data is None:
        config.stack_file.unlink(missing_ok=True)
        return []
    pid = int(data["pid"])
    children = [int(p) for p in (data.get("pids") or {}).values() if p]
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone([pid], timeout):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(children, 30):
        for child in children:
            if pid_alive(child):
                os.killpg(child, signal.SIGKILL)
        _wait_gone(children, 10)
    config.stack_file.unlink(missing_ok=True)
    return [pid, *children]


def _wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _tail(path: Any, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
