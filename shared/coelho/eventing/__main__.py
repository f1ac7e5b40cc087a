"""``python -m coelho.eventing``: run the local Knative eventing emulator until SIGTERM/SIGINT.

Exit codes: 0 after a graceful stop, 2 for a bad manifest/services file, 1 if Kafka is down.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from coelho.eventing.emulator import Emulator
from coelho.eventing.errors import EventingError
from coelho.eventing.jobsink import JobCommand

log = logging.getLogger("coelho.eventing")


def load_services(path: Path) -> dict[str, str]:
    """``{"name": "http://127.0.0.1:port"}`` (optionally nested under ``"services"``)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EventingError(f"{path}: cannot read services JSON: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("services"), dict):
        data = data["services"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise EventingError(f"{path}: expected a JSON object of service name -> base URL")
    return data


def load_jobs(path: Path) -> dict[str, JobCommand]:
    """``{"<JobSink name>": {"argv": [...], "cwd": ..., "env": {...}, "logs": ...}}``."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EventingError(f"{path}: cannot read jobs JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise EventingError(f"{path}: expected a JSON object of JobSink name -> command")
    return {str(name): JobCommand.from_json(str(name), raw) for name, raw in data.items()}


def replay_requests(url: str) -> Callable[[str], dict[int, int] | None]:
    """Take recovery replay requests (``coelho.recovery``) from Redis; None while unreachable."""
    import redis

    from coelho.recovery import take_replay

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def take(topic: str) -> dict[int, int] | None:
        try:
            return take_replay(client, topic)
        except redis.RedisError:
            return None

    return take


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m coelho.eventing", description=__doc__)
    parser.add_argument("--manifests", required=True, type=Path, help="directory of *.yaml")
    parser.add_argument("--bootstrap", required=True, help="local Kafka HOST:PORT")
    parser.add_argument("--services", required=True, type=Path, help="JSON: service -> URL")
    parser.add_argument("--jobs", type=Path, default=None, help="JSON: JobSink -> command")
    parser.add_argument("--namespace-default", default="coelho")
    parser.add_argument("--control-port", type=int, default=None, help="status/pause endpoint")
    parser.add_argument("--grace", type=float, default=5.0, help="seconds for in-flight on stop")
    parser.add_argument("--log-level", default="INFO", help="DEBUG logs one line per event")
    parser.add_argument(
        "--redis",
        default=os.environ.get("COELHO_REDIS_URL"),
        help="Redis URL where recovery files replay requests (coelho.recovery)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(max(logging.WARNING, logging.root.level))
    try:
        emulator = Emulator(
            args.manifests,
            args.bootstrap,
            load_services(args.services),
            namespace_default=args.namespace_default,
            control_port=args.control_port,
            replays=replay_requests(args.redis) if args.redis else None,
            jobs=load_jobs(args.jobs) if args.jobs else None,
        )
    except EventingError as exc:
        log.error("%s", exc)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        emulator.start()
    except Exception as exc:  # e.g. NoBrokersAvailable: say it in one line, not a trace
        log.error("cannot start: %s: %s", type(exc).__name__, exc)
        emulator.stop(0.0)
        return 1
    stop.wait()
    log.info("signal received, stopping")
    emulator.stop(args.grace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
