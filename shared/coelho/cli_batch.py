"""The batch command of ``coelho`` (``cli.py`` registers it).

coelho train DOMAIN [--max-rows N | --sample-frac F] [--wait]   request a batch training
coelho train DOMAIN --stop                                        stop the running one

The request is a CloudEvent sent to the Broker (the running stack's emulator ingress, or
``COELHO_BROKER_URL``), exactly as the dashboard's Train button sends it; ``--wait`` follows
its progress in Redis and ends with the holdout metrics and the River-vs-batch table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from coelho.stack.config import StackConfig
from coelho.stack.control import NotRunning, running_stack
from coelho.stack.render import table

POLL_S = 0.5


def add_parsers(sub: Any, domains: list[str]) -> None:
    train = sub.add_parser("train", help="train a domain's batch (scikit-learn) model")
    train.add_argument("domain", choices=domains)
    size = train.add_mutually_exclusive_group()
    size.add_argument("--max-rows", type=int, default=None, help="the newest N rows only")
    size.add_argument("--sample-frac", type=float, default=None, help="a share of rows, (0, 1]")
    train.add_argument("--wait", action="store_true", help="follow it to the end, then report")
    train.add_argument("--stop", action="store_true", help="stop the domain's running training")
    train.add_argument("--timeout", type=float, default=3600.0, help="--wait at most (s)")


def _redis(config: StackConfig) -> Any:
    import redis

    try:
        url = str(running_stack(config)["services"]["redis"])
    except NotRunning:
        url = os.environ.get("COELHO_REDIS_URL", "")
        if not url:
            raise
    return redis.Redis.from_url(url, socket_timeout=10)


def broker_url(config: StackConfig) -> str:
    """``COELHO_BROKER_URL``, else the running stack's emulator ingress of the Broker."""
    if os.environ.get("COELHO_BROKER_URL"):
        return os.environ["COELHO_BROKER_URL"]
    emulator = running_stack(config)["services"].get("emulator")
    if not emulator:
        raise NotRunning("no eventing emulator in the running stack; set COELHO_BROKER_URL")
    return str(emulator) + config.broker_path()


def cmd_train(config: StackConfig, args: argparse.Namespace) -> int:
    from coelho.batch.request import TrainRequest, submit
    from coelho.batch.status import TrainingStatus
    from coelho.errors import BrokerUnavailable, CoelhoError

    client = _redis(config)
    status = TrainingStatus(client, args.domain)
    if args.stop:
        stopped = status.request_stop()
        print(f"asked training {stopped} of {args.domain} to stop" if stopped
              else f"no training of {args.domain} is running")  # fmt: skip
        return 0
    current = status.read()
    if current.get("state") == "running":
        print(f"coelho train: refused: a training of {args.domain} is already running (request "
              f"{current.get('request_id')}, {current.get('stage')} at "
              f"{current.get('percent', 0):.0f} %); wait for it or `coelho train "
              f"{args.domain} --stop`", file=sys.stderr)  # fmt: skip
        return 1
    try:
        request = TrainRequest.new(args.domain, args.max_rows, args.sample_frac, "coelho.cli")
        url = broker_url(config)
        submit(client, url, request)
    except BrokerUnavailable as exc:
        print(f"coelho train: {exc}", file=sys.stderr)
        return 1
    except CoelhoError as exc:
        print(f"coelho train: {exc}", file=sys.stderr)
        return 2
    print(f"requested training {request.request_id} of {args.domain} on {request.describe()} "
          f"(CloudEvent to {url})")  # fmt: skip
    if not args.wait:
        return 0
    return follow(client, request.request_id, args.domain, args.timeout)


def follow(client: Any, request_id: str, domain: str, timeout: float) -> int:
    """Print progress until the request ends; 0 when it trained a model."""
    from coelho.batch.status import TERMINAL, TrainingStatus, request_state

    status = TrainingStatus(client, domain)
    tty = sys.stdout.isatty()
    shown, k_shown = "", 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = request_state(client, request_id).get("state", "")
        current = status.read()
        ours = current.get("request_id") == request_id
        if ours:
            for entry in (current.get("k_log") or [])[k_shown:]:
                nan = float("nan")
                _line(tty, f"  K={entry['k']:.0f}  silhouette {entry.get('silhouette', nan):.3f}"
                      f"  Calinski-Harabasz {entry.get('calinski_harabasz', nan):.0f}"
                      f"  Davies-Bouldin {entry.get('davies_bouldin', nan):.3f}")  # fmt: skip
                k_shown += 1
            line = _bar(current)
            if line != shown:
                if tty:
                    print("\r\033[K" + line, end="", flush=True)
                elif line.split("]")[0] != shown.split("]")[0] or not shown:
                    print(line, flush=True)
                shown = line
        if state in TERMINAL and (ours or state == "refused" or not current):
            if tty:
                print()
            return report(client, request_id, domain, state)
        time.sleep(POLL_S)
    print(f"\ncoelho train: still not finished after {timeout:.0f} s (request {request_id})",
          file=sys.stderr)  # fmt: skip
    return 1


def _line(tty: bool, text: str) -> None:
    print(("\r\033[K" if tty else "") + text, flush=True)


def _bar(current: dict[str, Any], width: int = 30) -> str:
    percent = float(current.get("percent") or 0.0)
    filled = int(width * percent / 100)
    return (f"[{'#' * filled}{'-' * (width - filled)}] {percent:5.1f}%  "
            f"{current.get('stage', '')}: {current.get('message', '')}")  # fmt: skip


def report(client: Any, request_id: str, domain: str, state: str) -> int:
    """The end of a training: its message, then metrics and River vs batch when it trained."""
    from coelho.batch.metrics import INFO, better
    from coelho.batch.status import TrainingStatus, request_state
    from coelho.domains import get

    record = request_state(client, request_id)
    print(f"{state}: {record.get('message', '')}")
    if state != "done":
        return 1
    current = TrainingStatus(client, domain).read()
    spec = get(domain).batch
    assert spec is not None
    metrics = current.get("metrics") or {}
    print(f"\nrun {current.get('run_id')}  ·  {domain}-batch version {current.get('version')}  ·"
          f"  {current.get('rows', 0):,} rows ({current.get('train_rows', 0):,} train, "
          f"{current.get('holdout_rows', 0):,} holdout)\n")  # fmt: skip
    for title, names in spec.metric_groups:
        cells = [f"{INFO[n].label} {_fmt(metrics.get(n))}" for n in names]
        print(f"  {title + ':':<20} " + "   ".join(cells))
    comparison = current.get("comparison") or {}
    rows = []
    for name in comparison.get("metrics", []):
        batch, river = comparison["batch"].get(name), comparison["river"].get(name)
        rows.append(
            [
                INFO[name].label,
                _fmt(batch),
                _fmt(river),
                _fmt(comparison.get("baseline", {}).get(name)),
                better(name, batch, river),
            ]
        )
    print(f"\nRiver ({comparison.get('river_model', '?')}, replayed over the same training rows) "
          "vs batch on the same holdout:\n")  # fmt: skip
    print(table(rows, ["metric", "batch", "river", "baseline", "better"]))
    return 0


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if float(value).is_integer() and abs(value) < 1000:
        return f"{value:.0f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:.4f}" if abs(value) < 1000 else f"{value:,.0f}"


COMMANDS = {"train": cmd_train}
