"""``coelho``: run the local stack and talk to it (parse -> call -> print, nothing more).

coelho up [--detach] [--no-producers]   start Kafka, Redis, functions, emulator, ...
coelho down                              stop a detached stack and wait for it
coelho produce DOMAIN --count N          send synthetic events to the stack's Kafka, at full
                 [--rate R] [--fraud-probability P ...]   speed unless --rate; generator knobs
                 [--start ISO] [--time-scale X]   ... on a synthetic clock
coelho status [--json]                   addresses and per-domain learning counters
coelho invoke|models|promote|snapshot    predict and model registry (coelho.cli_models)
coelho sql|archive                       the lakehouse (coelho.cli_lakehouse)
coelho reset DOMAIN [--to VERSION]       restore a version, re-learn what followed (cli_reset)
coelho train                             batch (scikit-learn) trainings (coelho.cli_batch)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from coelho import cli_batch, cli_lakehouse, cli_models, cli_reset
from coelho.errors import KafkaUnavailable
from coelho.producer_options import add_generator_options
from coelho.stack.config import StackConfig
from coelho.stack.control import NotRunning, detach, down, running_stack
from coelho.stack.logs import data_usage
from coelho.stack.processes import StartupError
from coelho.stack.render import domains_table, services_table, usage_line


def _domains() -> list[str]:
    from coelho.domains import REGISTRY

    return sorted(REGISTRY)


def _batch_domains() -> list[str]:
    from coelho.domains import REGISTRY

    return sorted(k for k, d in REGISTRY.items() if d.batch is not None)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="coelho", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack (Ctrl-C stops it)")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--no-producers", action="store_true", help="start no synthetic producers")
    sub.add_parser("down", help="stop a running stack")
    produce = sub.add_parser("produce", help="send synthetic events of one domain")
    produce.add_argument("domain", choices=_domains())
    produce.add_argument("--count", type=int, default=None, help="events to send (default: all)")
    produce.add_argument("--seed", type=int, default=None)
    produce.add_argument(
        "--rate", type=float, default=None,
        help="events/s; 0: as fast as Kafka takes them (default: 0 with --count, else the "
        "seed's pace)",
    )  # fmt: skip
    produce.add_argument("--drift-after", type=int, default=None, help="switch distribution")
    produce.add_argument(
        "--start", type=_timestamp, default=None,
        help="synthetic event clock from this ISO-8601 time (default: the real clock)",
    )  # fmt: skip
    produce.add_argument(
        "--time-scale", type=float, default=None,
        help="each event moves the synthetic clock this many times the seed's mean interval "
        "(e.g. 600 with a 0.55 s seed interval: 5.5 min of event time per event)",
    )  # fmt: skip
    add_generator_options(produce)
    status = sub.add_parser("status", help="addresses and per-domain counters")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    cli_models.add_parsers(sub, _domains())
    cli_lakehouse.add_parsers(sub, _domains())
    cli_reset.add_parser(sub, _domains())
    cli_batch.add_parsers(sub, _batch_domains())
    return top


def _timestamp(raw: str) -> datetime:
    """``--start``: an ISO-8601 time; a naive one is taken as UTC."""
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {raw!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_up(config: StackConfig, args: argparse.Namespace) -> int:
    producers = not args.no_producers
    if args.detach:
        data = detach(config, producers=producers)
        print("\n" + services_table(data["services"]))
        print(f"\nlogs: {config.logs}   stop: `coelho down`")
        return 0
    from coelho.stack.control import refuse_second_stack
    from coelho.stack.supervisor import Supervisor

    refuse_second_stack(config)
    return Supervisor(config, producers=producers).run()


def cmd_down(config: StackConfig, args: argparse.Namespace) -> int:
    stopped = down(config)
    print(f"stopped {len(stopped)} processes" if stopped else f"no stack running in {config.home}")
    return 0


def kafka_bootstrap(config: StackConfig) -> str:
    """The running stack's Kafka, else ``$COELHO_KAFKA_BOOTSTRAP``."""
    try:
        return str(running_stack(config)["services"]["kafka"])
    except NotRunning:
        if config.external_kafka:
            return config.external_kafka
        raise


def cmd_produce(config: StackConfig, args: argparse.Namespace) -> int:
    from coelho.producer import run
    from coelho.producer_options import chosen_options, pace, progress_bar

    try:
        if args.time_scale is not None and args.time_scale <= 0:
            raise ValueError(f"--time-scale must be > 0, got {args.time_scale!r}")
        options = chosen_options(args, args.domain)
        rate = pace(args.count, args.rate)
    except ValueError as exc:
        print(f"coelho produce: {exc}", file=sys.stderr)
        return 2
    bootstrap = kafka_bootstrap(config)
    bar = progress_bar(args.count) if args.count else None
    sent = run(args.domain, bootstrap, count=args.count, seed=args.seed, rate=rate,
               drift_after=args.drift_after, start=args.start, time_scale=args.time_scale,
               options=options, progress=bar)  # fmt: skip
    print(f"sent {sent} {args.domain} events to {bootstrap}")
    return 0 if args.count is None or sent == args.count else 1


def collect_status(config: StackConfig) -> dict[str, Any]:
    import redis

    from coelho.status import collect

    services = dict(running_stack(config)["services"])
    client = redis.Redis.from_url(services["redis"])
    try:
        status = {"services": services, "domains": collect(client)}
    finally:
        client.close()
    cli_models.extend_status(status)
    status["data"] = {"home": str(config.home), "bytes": data_usage(config.home)}
    return status


def cmd_status(config: StackConfig, args: argparse.Namespace) -> int:
    status = collect_status(config)
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    else:
        print(services_table(status["services"]) + "\n\n" + domains_table(status["domains"]))
        print("\n" + usage_line(status["data"]["home"], status["data"]["bytes"]))
    return 0


COMMANDS = {"up": cmd_up, "down": cmd_down, "produce": cmd_produce, "status": cmd_status,
            **cli_models.COMMANDS, **cli_lakehouse.COMMANDS, **cli_reset.COMMANDS,
            **cli_batch.COMMANDS}  # fmt: skip


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; an optional trailing positional may also follow the options.

    argparse fills positionals in one go, so in ``invoke tfd --model batch '{...}'`` the
    optional ``event`` is already taken as absent when the options start; it is placed here.
    """
    cli = parser()
    args, extra = cli.parse_known_args(argv)
    if extra and len(extra) == 1 and not extra[0].startswith("-") and args.__dict__.get(
        "event", "not an option"
    ) is None:  # fmt: skip
        args.event = extra[0]
    elif extra:
        cli.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=os.environ.get("COELHO_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python is chatty at INFO
    config = StackConfig.from_env()
    try:
        return COMMANDS[args.command](config, args)
    except (NotRunning, StartupError, FileNotFoundError, KafkaUnavailable) as exc:
        print(f"coelho {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
