"""The cluster's Redis degrades instead of dying: ``maxmemory`` + ``noeviction``, sized below
the pod's memory limit with room for what Redis uses beyond its dataset (the AOF rewrite's
forked child, allocator fragmentation, client buffers)."""

from __future__ import annotations

import re
from typing import Any

from tests.cluster import manifests

# Redis: 1k = 1000 bytes but 1kb = 1024 (redis.conf); Kubernetes: 1Ki = 1024, 1k = 1000.
UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "kb": 1024, "mb": 1024**2,
         "gb": 1024**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}  # fmt: skip


def size(text: str) -> int:
    """Redis (``256mb``) and Kubernetes (``512Mi``) memory sizes in bytes.

    >>> size("256mb"), size("512Mi")
    (268435456, 536870912)
    """
    found = re.fullmatch(r"(\d+)([a-zA-Z]*)", text.strip())
    assert found, f"not a memory size: {text!r}"
    return int(found[1]) * UNITS[found[2].lower()]


def redis_container() -> dict[str, Any]:
    docs = manifests.file_docs(manifests.K3D / "manifests" / "30-redis.yaml")
    (deployment,) = [d for d in docs if d.kind == "Deployment"]
    containers = deployment.body["spec"]["template"]["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == "redis"]  # not the exporter sidecar
    return dict(container)


def test_redis_refuses_writes_when_full_and_never_evicts() -> None:
    args = [str(a) for a in redis_container()["args"]]
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert size(args[args.index("--maxmemory") + 1]) > 0


def test_maxmemory_leaves_headroom_below_the_memory_limit() -> None:
    container = redis_container()
    args = [str(a) for a in container["args"]]
    maxmemory = size(args[args.index("--maxmemory") + 1])
    limit = size(container["resources"]["limits"]["memory"])
    request = size(container["resources"]["requests"]["memory"])
    # The dataset may reach maxmemory; a rewrite's fork copies what changes meanwhile.
    assert maxmemory <= 0.6 * limit, (maxmemory, limit)
    assert request <= limit
