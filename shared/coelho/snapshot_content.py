"""What a snapshot run holds besides the model: its learning curve and readable reports.

- **Metrics**: every point of the learning curve since the previous snapshot of the lineage
  (``coelho.state.curve``), each metric at ``step`` = events learned and timestamp = the time
  of the event that made it, then the state's own metrics at exactly its events learned. So
  the runs of a lineage, side by side in MLflow's chart, draw one continuous curve, and the
  run's latest value of a metric is the registered state's.
- **Artifacts** (JSON under ``reports/``): what the domain's ``reports`` make of the model (a
  confusion matrix and classification report, cluster counts and profiles), and
  ``kafka_offsets.json``: the events learned and the Kafka offsets per partition this run
  covers, after those of the previous snapshot (``after``) through its own (``through``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from coelho.domains import get
from coelho.state.curve import Base, Pending, Point

REPORTS_DIR = "reports"
TAG = "coelho."


@dataclass(frozen=True)
class RunContent:
    points: list[Point]
    documents: dict[str, Any]
    tags: dict[str, str]

    def metrics(self) -> list[Any]:
        """The points as MLflow ``Metric`` entities for ``log_batch``."""
        from mlflow.entities import Metric

        return [Metric(key, float(value), p.timestamp_ms, p.events_learned)
                for p in self.points for key, value in p.metrics.items()]  # fmt: skip


def build(
    domain: str, model: Any, pending: Pending | None, event_time_ms: int | None, saved_at: float
) -> RunContent:
    """The run content of ``model``'s snapshot, given the curve waiting since the last one."""
    pending = pending or Pending(Base(), [])
    points = [p for p in pending.points if p.events_learned < model.events_learned]
    at = event_time_ms or (points[-1].timestamp_ms if points else int(saved_at * 1000))
    points.append(Point(model.events_learned, at, model.metric_values()))
    reports = get(domain).reports(model)
    documents = {f"{REPORTS_DIR}/{name}.json": doc for name, doc in reports.items()}
    documents[f"{REPORTS_DIR}/kafka_offsets.json"] = covered(pending.base, model)
    tags = {f"{TAG}curve_from": str(pending.base.events_learned),
            f"{TAG}curve_points": str(len(points))}  # fmt: skip
    if pending.base.lineage:
        tags[f"{TAG}lineage"] = pending.base.lineage
    if pending.base.run_id:
        tags[f"{TAG}previous_run"] = pending.base.run_id
    return RunContent(points, documents, tags)


def covered(base: Base, model: Any) -> dict[str, Any]:
    """Events and Kafka offsets after the previous snapshot's, through ``model``'s.

    ``after`` is None for a partition the previous snapshot had not read: the run covers it
    from the first record its lineage learned.

    >>> class M:
    ...     events_learned, offsets = 250, {"t": {0: 99, 1: 40}}
    >>> for part in covered(Base("x", 100, {"t": {"0": 49}}, "r1", "3"), M())["partitions"]:
    ...     print(part)
    {'topic': 't', 'partition': 0, 'after': 49, 'through': 99}
    {'topic': 't', 'partition': 1, 'after': None, 'through': 40}
    """
    partitions = []
    for topic, parts in sorted(model.offsets.items()):
        before = base.offsets.get(topic, {})
        for partition, offset in sorted(parts.items()):
            after = before.get(str(partition))
            partitions.append({"topic": topic, "partition": int(partition),
                               "after": None if after is None else int(after),
                               "through": int(offset)})  # fmt: skip
    return {
        "events_learned": {"after": base.events_learned, "through": model.events_learned},
        "previous_run": base.run_id or None,
        "previous_version": int(base.version) if base.version else None,
        "partitions": partitions,
    }
