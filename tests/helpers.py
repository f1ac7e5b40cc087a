"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def same_prediction(a: dict[str, Any], b: dict[str, Any], rel: float = 1e-9) -> bool:
    """Predictions agree: equal keys, equal non-floats, floats within ``rel``.

    A model restored from a pickle can differ in the last bits of a float, because River's
    sparse dot products sum in dictionary order; 1e-9 is far below any meaningful change.
    """
    if a.keys() != b.keys():
        return False
    for key, left in a.items():
        right = b[key]
        if isinstance(left, float) and isinstance(right, float):
            if not math.isclose(left, right, rel_tol=rel, abs_tol=1e-12):
                return False
        elif left != right:
            return False
    return True


def rewrite_manifests(
    into: Path,
    *,
    group_suffix: str,
    topics: Mapping[str, str] | None = None,
    only_sources: set[str] | None = None,
    jobs: bool = False,
) -> Path:
    """The project's ``eventing/`` YAML, rewritten for an isolated run.

    Consumer groups get ``group_suffix`` (a fresh group starts at ``initialOffset``), topics are
    renamed by ``topics`` (old -> new), KafkaSources not in ``only_sources`` and PingSources are
    dropped, and so are JobSinks and the Triggers to them unless ``jobs`` (the emulator then
    needs a jobs map). Routing (Broker, Triggers, filters, delivery) stays exactly as committed.
    """
    docs = []
    for path in sorted((REPO / "eventing").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc["kind"] == "PingSource":
                continue
            subscriber = ((doc.get("spec") or {}).get("subscriber") or {}).get("ref") or {}
            if not jobs and "JobSink" in (doc["kind"], subscriber.get("kind")):
                continue
            if doc["kind"] == "KafkaSource":
                if only_sources is not None and doc["metadata"]["name"] not in only_sources:
                    continue
                spec = doc["spec"]
                spec["consumerGroup"] = f"{spec['consumerGroup']}-{group_suffix}"
                spec["topics"] = [(topics or {}).get(t, t) for t in spec["topics"]]
            docs.append(doc)
    into.mkdir(parents=True, exist_ok=True)
    (into / "eventing.yaml").write_text(yaml.safe_dump_all(docs))
    return into
