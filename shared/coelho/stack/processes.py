"""One child process: started with its own log file, waited for, stopped cleanly.

Children run in their own session so that Ctrl-C in a terminal reaches only the supervisor,
which then stops them in reverse start order; the whole process group is signalled so that
gunicorn workers and JVM helpers go too. On Linux a child also gets SIGTERM if its parent
dies, so a crashed supervisor or test session leaves no servers behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from coelho.stack.probes import session_listens


class StartupError(RuntimeError):
    """A child exited or did not become ready; the message names it and quotes its log."""


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the parent exits."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class Child:
    """A named subprocess whose stdout and stderr are appended to ``log_path``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def start(self) -> Child:
        if self.alive():
            raise StartupError(f"{self.name}: already running (pid {self.pid})")
        if self.proc is not None:
            # A restart: leftovers of the dead leader's group (a gunicorn worker still holding
            # the listening socket) would keep the new process from binding.
            _signal_group(self.proc.pid, signal.SIGKILL)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%F %T')} start: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,  # children are spawned from one thread only
                )
            except FileNotFoundError as exc:
                raise StartupError(f"{self.name}: executable not found: {self.argv[0]}") from exc
        return self

    def tail(self, lines: int = 30) -> str:
        """The last lines of the log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_ready(
        self,
        check: Callable[[], bool],
        *,
        timeout: float,
        what: str,
        port: int | None = None,
        interval: float = 0.2,
    ) -> None:
        """Poll ``check`` until it is true; fail early if the child exits meanwhile.

        A child not ready in time is stopped. With ``port``, ready also needs the listening
        socket of ``port`` to be this child's, so a stranger on that port cannot pass.
        """
        if port is not None:
            probe = check

            def check() -> bool:
                return probe() and self.pid is not None and session_listens(self.pid, port)

        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise StartupError(
                    f"{self.name}: exited with code {self.proc.returncode} before {what}; "
                    f"log {self.log_path}:\n{self.tail()}"
                )
            try:
                if check():
                    return
            except Exception:  # any failure of a readiness probe means "not yet"
                pass
            if time.monotonic() > deadline:
                self.stop(timeout=10)
                raise StartupError(
                    f"{self.name}: not {what} after {timeout:.0f} s; "
                    f"log {self.log_path}:\n{self.tail()}"
                )
            time.sleep(interval)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM the process group, wait up to ``timeout`` s, then SIGKILL it."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        # Stragglers in the group (e.g. a gunicorn worker) must not outlive their leader.
        _signal_group(proc.pid, signal.SIGKILL)
        return proc.returncode


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (zombies of our own children count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (FileNotFoundError, IndexError):
        return True
