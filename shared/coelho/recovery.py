"""Rebuild a domain's state after Redis lost it: the newest registered snapshot + a Kafka replay.

When a writer takes the lease and finds no checkpoint (Redis flushed, or a new Redis), it asks
``restorer(...)`` for a model. The restorer loads the newest healthy registered version of
``<domain>-river`` from MLflow (HMAC verified) and files a **replay request** per topic: the
offsets just after the ones the snapshot covers. The writer checkpoints the restored model at
once, and the eventing layer re-delivers the topic from those offsets:

- locally, the emulator's KafkaSource consumer takes the request (``take_replay``) between two
  polls and seeks: listed partitions to the given offset, unlisted ones to the beginning
  (the snapshot saw none of their records);
- on the cluster, an operator applies the request (the emulator's job, by hand):

  1. ``kubectl -n coelho scale kafkasource <domain> --replicas=0`` (no consumer may be active
     in the group for an offset reset; this also pauses delivery, see below);
  2. read the request: ``redis-cli GET coelho:replay:<topic>`` ->
     ``{"partitions": {"0": 1200, ...}}``;
  3. per listed partition ``kafka-consumer-groups.sh --bootstrap-server <kafka>
     --group coelho-<domain> --topic <topic>:<partition> --reset-offsets --to-offset <offset>
     --execute``, and ``--to-earliest`` for the topic's partitions not listed;
  4. ``redis-cli DEL coelho:replay:<topic>`` (the request is done), then
     ``kubectl -n coelho scale kafkasource <domain> --replicas=1``.

The replayed records are appended again (their dedupe markers went with Redis), so the model
ends identical to one that never lost its state, provided the records of a partition are
applied in offset order (one partition or one record key; across partitions only
per-partition order exists) and no new record is delivered between the loss and the seek.
For that last point pause the source during recovery (``POST /sources/<name>/pause`` on the
emulator, ``consumers: 0`` on the cluster); otherwise records that arrive in that window are
applied once but earlier than in the original order.

Replay requests live in Redis under ``coelho:replay:<topic>`` (JSON ``{"partitions":
{"0": 120}, "domain": "tfd", "requested_at": ...}``). This module imports nothing from
``coelho.state`` so the emulator can use it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

log = logging.getLogger(__name__)

Restore = Callable[[str], Any]


def replay_key(topic: str) -> str:
    return f"coelho:replay:{topic}"


def request_replay(
    client: redis.Redis, offsets: Mapping[str, Mapping[int, int]], domain: str
) -> dict[str, dict[str, int]]:
    """File one request per topic: replay from just after each partition's covered offset."""
    filed: dict[str, dict[str, int]] = {}
    for topic, partitions in offsets.items():
        start = {str(p): int(o) + 1 for p, o in partitions.items()}
        body = {"partitions": start, "domain": domain, "requested_at": time.time()}
        client.set(replay_key(topic), json.dumps(body))
        filed[topic] = start
    return filed


def take_replay(client: redis.Redis, topic: str) -> dict[int, int] | None:
    """The pending request for ``topic`` as ``{partition: offset}``, removed atomically."""
    raw = client.getdel(replay_key(topic))
    if raw is None:
        return None
    try:
        partitions = json.loads(raw)["partitions"]
        return {int(p): int(o) for p, o in partitions.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        log.error("ignoring a malformed replay request for %s: %r", topic, raw[:200])
        return None


def pending_replays(client: redis.Redis) -> dict[str, dict[str, Any]]:
    """Every request not yet taken (for status and tests)."""
    out = {}
    for key in client.scan_iter(match=replay_key("*")):
        raw = client.get(key)
        if raw is not None:
            out[key.decode().removeprefix(replay_key(""))] = json.loads(raw)
    return out


def restorer(client: redis.Redis, key: bytes, model_name: str | None = None) -> Restore | None:
    """The writer's restore hook, or None when no model registry is configured.

    MLflow is imported only when the hook runs (a writer with no checkpoint), so learn
    functions do not pay for it on a cold start.
    """
    from coelho.registry import tracking_uri

    if not tracking_uri():
        return None

    def restore(domain: str) -> Any:
        from coelho.registry import latest_state

        found = latest_state(domain, key)
        if found is None:
            log.info("recovery %s: no registered snapshot; starting from scratch", domain)
            return None
        model, info = found
        if model_name and model.model_name != model_name:
            log.warning("recovery %s: snapshot v%d is %s, configured %s; starting from scratch",
                        domain, info.version, model.model_name, model_name)  # fmt: skip
            return None
        filed = request_replay(client, model.offsets, domain)
        log.warning("recovery %s: restored registered version %d (%d events); replay from %s",
                    domain, info.version, model.events_learned, filed)  # fmt: skip
        return model

    return restore
