"""A learn function's writer, run in a child process of the serving process.

Why a process and not a thread: a functions-framework worker is one Python process, so a writer
thread shares the GIL with the request threads. Learning, checkpoint pickling and stats then
stall the path that must answer each CloudEvent (about a quarter of the learn function's GIL time
went to the writer in the learn-path benchmark). In its own process the writer uses another
core and the request path only validates, appends and answers.

The serving process starts the child lazily, on its first request (see LearnService), and
restarts it if it exits. The child's stdin is a pipe from the parent: when the parent exits, or
is killed, the pipe reaches EOF and the child checkpoints, releases the lease and exits, so no
writer outlives its function. Correctness never depends on that: the lease and the fenced
checkpoint keep a single writer even when two overlap. The child publishes its Prometheus
metrics and a small status (holding the lease, error) as files the parent serves.

Run by hand: ``python -m coelho.state.sidecar DOMAIN --status-dir DIR`` (stops on EOF).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from prometheus_client import write_to_textfile

from coelho import telemetry
from coelho.recovery import restorer
from coelho.settings import Settings, model_choice
from coelho.state.writer import DomainWriter

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.prom"
STATUS_FILE = "status.json"
PUBLISH_SECONDS = 0.25
CHECK_SECONDS = 0.5
FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 10.0
STABLE_SECONDS = 60.0


@dataclass(frozen=True)
class WriterStatus:
    """What the child last reported; ``running`` is the parent's own observation."""

    running: bool
    holding: bool = False
    error: str | None = None


class WriterProcess:
    """The parent's handle on its writer child: start, restart with backoff, read, stop."""

    def __init__(self, domain: str, command: list[str] | None = None) -> None:
        self.domain = domain
        # The child's argv without --status-dir (tests pass another program).
        self.command = command or [sys.executable, "-m", "coelho.state.sidecar", domain]
        self.dir = Path(tempfile.mkdtemp(prefix=f"coelho-writer-{domain}-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._next_start = 0.0
        self._delay = FIRST_RESTART_DELAY
        self._started_at = 0.0
        self.exit_code: int | None = None

    def ensure(self) -> None:
        """Start the child, or restart it if it exited; cheap enough to call per request."""
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            self._next_check = now + CHECK_SECONDS
            if self._proc is not None:
                code = self._proc.poll()
                if code is None:
                    return
                self.exit_code = code
                self._proc = None
                log.error("writer process for %s exited with code %s", self.domain, code)
                if now - self._started_at > STABLE_SECONDS:
                    self._delay = FIRST_RESTART_DELAY  # it had been running fine: not a loop
                self._next_start = now + self._delay
                self._delay = min(self._delay * 2, MAX_RESTART_DELAY)
            if now >= self._next_start:
                argv = [*self.command, "--status-dir", str(self.dir)]
                self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE)
                self._started_at = now

    def status(self) -> WriterStatus:
        running = self._proc is not None and self._proc.poll() is None
        try:
            reported = json.loads((self.dir / STATUS_FILE).read_text())
        except (OSError, ValueError):
            return WriterStatus(running)
        # A child that died while holding left "holding" behind: only a live one holds.
        return WriterStatus(
            running, running and bool(reported.get("holding")), reported.get("error")
        )

    def metrics(self) -> bytes | None:
        """The child's latest exposition; None until it published, or once it is not running."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        try:
            return (self.dir / METRICS_FILE).read_bytes()
        except OSError:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """Close the pipe (the child checkpoints and hands the lease over), then wait."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def _publish(status_dir: Path, writer: DomainWriter) -> None:
    write_to_textfile(str(status_dir / METRICS_FILE), telemetry.WRITER)
    status = {"holding": writer.holding, "error": writer.error, "pid": os.getpid()}
    tmp = status_dir / f".{STATUS_FILE}.tmp"
    tmp.write_text(json.dumps(status))
    tmp.replace(status_dir / STATUS_FILE)


def _until_eof(done: threading.Event, orphaned: threading.Event) -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    orphaned.set()
    done.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coelho.state.sidecar")
    parser.add_argument("domain")
    parser.add_argument("--status-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s writer %(levelname)s %(message)s")
    settings = Settings.from_env()
    client = redis.Redis.from_url(settings.redis_url)
    choice = model_choice(args.domain)
    writer = DomainWriter(
        client, args.domain, settings, choice,
        restore=restorer(client, settings.state_key, choice),
    )  # fmt: skip
    args.status_dir.mkdir(parents=True, exist_ok=True)
    done, orphaned = threading.Event(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=_until_eof, args=(done, orphaned), daemon=True).start()
    writer.start()
    while not done.wait(PUBLISH_SECONDS):
        _publish(args.status_dir, writer)
    writer.stop()
    if orphaned.is_set():  # the function is gone (or stopping): nobody reads the files
        shutil.rmtree(args.status_dir, ignore_errors=True)
    else:
        _publish(args.status_dir, writer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
