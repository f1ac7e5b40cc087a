"""``coelho reset DOMAIN [--to champion|latest|N|scratch] [--source-paused]`` (see coelho.reset).

Addresses, the state key and the emulator (to pause the KafkaSource for a Kafka replay) come
from the running stack; without one, ``COELHO_REDIS_URL``, ``COELHO_STATE_KEY`` and
``MLFLOW_TRACKING_URI`` say where Redis and MLflow are, and ``--source-paused`` confirms the
KafkaSource was scaled to 0 by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from typing import Any

from coelho.cli_models import _post, _services, _tracking_uri
from coelho.errors import CoelhoError, Refused
from coelho.stack.config import StackConfig


def add_parser(sub: Any, domains: list[str]) -> None:
    reset = sub.add_parser("reset", help="restore a registered version as the live state and "
                           "replay the events after it (coelho.reset)")  # fmt: skip
    reset.add_argument("domain", choices=domains)
    reset.add_argument(
        "--to", default="champion",
        help="champion (default) | latest | N | scratch (a fresh model, Kafka from the start)",
    )  # fmt: skip
    reset.add_argument(
        "--source-paused", action="store_true",
        help="no local stack: the KafkaSource is already scaled to 0 (needed for a Kafka replay)",
    )  # fmt: skip


def cmd_reset(config: StackConfig, args: argparse.Namespace) -> int:
    import redis
    from mlflow.exceptions import MlflowException

    from coelho.reset import reset
    from coelho.settings import Settings

    services, settings = _services(config), Settings.from_env()
    raw_key = os.environ.get("COELHO_STATE_KEY") or (config.state_key() if services else None)
    key = raw_key.encode() if raw_key else settings.state_key
    client = redis.Redis.from_url(services.get("redis") or settings.redis_url)
    pause, resume = _source_control(services.get("emulator"), args.domain, args.source_paused)
    try:
        model, version, position = _reset_target(config, args.domain, args.to, key)
        result = reset(client, args.domain, model, version, position, key,
                       log_retention=settings.log_retention, pause=pause,
                       resume=resume)  # fmt: skip
    except MlflowException as exc:
        print(f"coelho reset: {exc.message}", file=sys.stderr)
        return 1
    except CoelhoError as exc:
        print(f"coelho reset: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(json.dumps(vars(result), indent=2, sort_keys=True))
    return 0


def _reset_target(config: StackConfig, domain: str, to: str, key: bytes) -> tuple[Any, int, Any]:
    """(model, registered version, log position) ``--to`` names; a fresh model for scratch."""
    if to == "scratch":
        from coelho.learning import OnlineModel
        from coelho.settings import model_choice

        return OnlineModel.create(domain, model_choice(domain)), 0, None
    from coelho.registry import shared, version_info
    from coelho.serving import Selector

    registry = shared(_tracking_uri(config))
    found = registry.resolve(domain, Selector.parse(to))
    info = version_info(found)
    if not info.healthy:
        raise Refused(f"{domain} version {info.version} is unhealthy: {info.health}")
    return registry.load(found, key), info.version, info.position


def _source_control(emulator: str | None, domain: str, paused: bool) -> tuple[Any, Any]:
    """Pause/resume of the domain's KafkaSource for a Kafka replay: the local emulator's
    control endpoint, nothing when the operator paused it, else a refusal that says how."""
    if paused:
        return None, None
    if not emulator:

        def refuse() -> None:
            raise Refused(
                f"a Kafka replay needs the KafkaSource paused: `kubectl -n coelho scale "
                f"kafkasource {domain} --replicas=0`, rerun with --source-paused, apply the "
                "replay request as in the README (Recovery), then scale it back to 1"
            )

        return refuse, None
    base = f"{emulator.rstrip('/')}/sources/{domain}"

    def resume() -> None:
        _post(f"{base}/resume", b"", {})

    def pause() -> None:
        _post(f"{base}/pause", b"", {})
        for _ in range(600):  # up to 60 s for the records in flight to be delivered
            if _idle(emulator, domain):
                return
            time.sleep(0.1)
        resume()
        raise Refused(f"the {domain} source did not go idle within 60 s; nothing was changed")

    return pause, resume


def _idle(emulator: str, domain: str) -> bool:
    """The emulator's ``domain`` source has no record queued or in flight."""
    with urllib.request.urlopen(f"{emulator.rstrip('/')}/status", timeout=10) as response:
        sources = json.loads(response.read()).get("sources", {})
    source = next((v for k, v in sources.items() if k.split("/")[-1] == domain), {})
    parts = source.get("partitions", {}).values()
    return all(not p.get("in_flight") and not p.get("queued") for p in parts)


COMMANDS = {"reset": cmd_reset}
