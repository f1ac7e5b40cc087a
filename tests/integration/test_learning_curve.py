"""MLflow learning curves and readable reports, on real Redis, MLflow and S3.

A real writer learns a TFD stream with a synthetic clock (event time far from the wall clock)
and records curve points; real snapshot passes register it, skip one as not due, fail one
half-way and retry it, one dies right after registering (the next catches up), a late pass's
bookkeeping is refused, and ``coelho reset`` to the first version starts another lineage that
continues its curve. Read back from MLflow, the lineage's snapshot runs hold one metric
history: strictly increasing steps, from the first event, at most ``EVERY`` events apart (also
across runs), each run ending at exactly its events learned, every timestamp the event time of
the event that made it; and JSON reports that parse.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from coelho.domains import get
from coelho.handlers.snapshot import SnapshotService
from coelho.retention import HISTORY_TAG
from coelho.settings import Settings
from coelho.state import DomainWriter, EventLog, Keys
from coelho.state.curve import (
    CurveRecorder,
    Pending,
    Point,
    advance,
    event_time_ms,
    pending,
    rebase,
)
from tests.conftest import TEST_STATE_KEY
from tests.integration.conftest import Checkpoints, trained

EVERY = 25
START = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
SOURCE = "/apis/v1/namespaces/coelho/kafkasources/tfd#transaction_fraud_detection"


def settings(redis_url: str, **extra: Any) -> Settings:
    base = dict(redis_url=redis_url, state_key=TEST_STATE_KEY.encode(), checkpoint_every=40,
                checkpoint_seconds=0.2, dedupe_ttl_seconds=60, lease_ms=1000,
                log_retention=100_000, snapshot_min_events=150, snapshot_min_seconds=0,
                curve_every=EVERY, curve_max_points=1000)  # fmt: skip
    return Settings(**{**base, **extra})  # type: ignore[arg-type]


def learn_through(client: redis.Redis, log: EventLog, stream: list[Any], n: int) -> None:
    """Append the stream's events up to ``n`` and wait for a checkpoint covering exactly n."""
    learned = int(client.hget(Keys("tfd").checkpoint, "events_learned") or 0)
    topic = get("tfd").topic
    for offset in range(learned, n):
        log.append(SOURCE, f"partition:0/offset:{offset}", stream[offset], (topic, 0, offset))
    deadline = time.monotonic() + 60
    while int(client.hget(Keys("tfd").checkpoint, "events_learned") or 0) != n:
        assert time.monotonic() < deadline, f"no checkpoint at {n} events"
        time.sleep(0.05)


@pytest.fixture
def tfd_stream() -> list[Any]:
    tfd = get("tfd")
    return [tfd.validate(e) for e in itertools.islice(tfd.produce(seed=5, start=START), 300)]


def test_snapshot_runs_of_a_lineage_draw_one_continuous_curve_in_event_time(
    redis_client: redis.Redis,
    redis_url: str,
    registry: Any,
    tfd_stream: list[Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    import coelho.registry

    config = settings(redis_url)
    writer = DomainWriter(redis.Redis.from_url(redis_url), "tfd", config)
    service = SnapshotService(config)
    log = EventLog(redis_client, "tfd", 60)
    writer.start()
    try:
        learn_through(redis_client, log, tfd_stream, 110)
        first = service.snapshot("tfd")
        assert (first["status"], first["events_learned"]) == ("registered", 110), first
        learn_through(redis_client, log, tfd_stream, 190)
        assert service.snapshot("tfd")["status"] == "not-due"  # 80 < 150: points wait
        learn_through(redis_client, log, tfd_stream, 270)

        real, calls = coelho.registry._requirements, []

        def failing_once() -> list[str]:
            calls.append(1)
            if len(calls) == 1:
                raise OSError("injected: the artifact store went away")
            return real()

        monkeypatch.setattr(coelho.registry, "_requirements", failing_once)
        late = pending(redis_client, "tfd", 270)  # what a pass starting now reads
        failed = service.snapshot("tfd")
        assert failed["status"] == "failed" and "injected" in failed["error"], failed
        second = service.snapshot("tfd")  # the retry: the same points, logged once
        assert (second["status"], second["events_learned"]) == ("registered", 270), second
        # As if that pass died right after registering v2: the base and the points are back.
        _undo_advance(redis_client, late)
        learn_through(redis_client, log, tfd_stream, 300)
        third = service.snapshot("tfd", force=True)
        assert (third["status"], third["events_learned"]) == ("registered", 300), third
        # A pass that read the base before v2 and finished last (past the lock) moves nothing.
        assert not advance(redis_client, "tfd", late.base, 270, {}, "late", 2)
        assert pending(redis_client, "tfd", 300).base.events_learned == 300

        # coelho reset to v1: a new lineage, its curve from v1's events on (the log replayed).
        installed = _reset_to_version_1(redis_client)
        deadline = time.monotonic() + 60
        while _checkpoint(redis_client) < (300, installed + 1):
            assert time.monotonic() < deadline, "the log after v1 was not replayed"
            time.sleep(0.05)
        fourth = service.snapshot("tfd")  # a reset lineage is registered at once
        assert (fourth["status"], fourth["events_learned"]) == ("registered", 300), fourth
    finally:
        writer.stop()

    runs = [registry.get_run(registry.get_model_version("tfd-river", str(v)).run_id)
            for v in (1, 2, 3, 4)]  # fmt: skip
    times = {n + 1: event_time_ms("tfd", e) for n, e in enumerate(tfd_stream)}
    previous_end = 0
    for run, end in zip(runs[:3], (110, 270, 300), strict=True):
        history = registry.get_metric_history(run.info.run_id, "ROCAUC")
        steps = [m.step for m in history]
        assert steps == sorted(set(steps)), f"steps not strictly increasing: {steps}"
        assert steps[-1] == end == int(run.data.tags["coelho.events_learned"])
        assert int(run.data.tags["coelho.curve_from"]) == previous_end
        gaps = [b - a for a, b in zip([previous_end, *steps], steps, strict=False)]
        assert 0 < min(gaps) and max(gaps) <= EVERY, (previous_end, steps)
        assert [m.timestamp for m in history] == [times[s] for s in steps]
        assert [m.step for m in registry.get_metric_history(run.info.run_id, "tp")] == steps
        previous_end = end
    assert registry.get_metric_history(runs[0].info.run_id, "ROCAUC")[0].step == 1
    assert runs[2].data.tags["coelho.previous_run"] == runs[1].info.run_id
    lineage = runs[0].data.tags["coelho.lineage"]
    assert all(r.data.tags["coelho.lineage"] == lineage for r in runs[:3])
    # After the reset: another lineage, continuing v1's curve (110) up to its own 300 events.
    assert runs[3].data.tags["coelho.lineage"] not in ("", lineage)
    assert runs[3].data.tags["coelho.curve_from"] == "110"
    history = registry.get_metric_history(runs[3].info.run_id, "ROCAUC")
    steps = [m.step for m in history]
    gaps = [b - a for a, b in zip([110, *steps], steps, strict=False)]
    assert steps[-1] == 300 and 0 < min(gaps) and max(gaps) <= EVERY, steps
    assert [m.timestamp for m in history] == [times[s] for s in steps]
    assert _reports(registry, runs[3].info.run_id, tmp_path)["kafka_offsets.json"][
        "previous_version"] == 1  # fmt: skip
    # The failed attempt's run is gone: no live run of the lineage holds a step twice.
    holders = registry.search_runs([runs[0].info.experiment_id],
                                   f"tags.`coelho.lineage` = '{lineage}'")  # fmt: skip
    assert sorted(r.info.run_id for r in holders) == sorted(r.info.run_id for r in runs[:3])

    # The history run: one point per version, at the same steps and event times.
    (history,) = registry.search_runs([runs[0].info.experiment_id],
                                      f"tags.`{HISTORY_TAG}` = 'true'")  # fmt: skip
    points = registry.get_metric_history(history.info.run_id, "ROCAUC")
    # (v4 relearned v3's events in the same order: the same point, which MLflow stores once.)
    assert [(m.step, m.timestamp) for m in points] == [(n, times[n]) for n in (110, 270, 300)]

    reports = _reports(registry, runs[1].info.run_id, tmp_path)
    assert set(reports) == {"confusion_matrix.json", "classification_report.json",
                            "kafka_offsets.json"}  # fmt: skip
    matrix = reports["confusion_matrix.json"]
    assert matrix["labels"] == ["legitimate", "fraud"]
    assert sum(map(sum, matrix["matrix"])) == 270  # every event learned was scored first
    report = reports["classification_report.json"]
    assert report["fraud"]["support"] == sum(e["is_fraud"] for e in tfd_stream[:270])
    assert report["legitimate"]["support"] + report["fraud"]["support"] == 270
    offsets = reports["kafka_offsets.json"]
    assert offsets["events_learned"] == {"after": 110, "through": 270}
    assert offsets["partitions"] == [{"topic": get("tfd").topic, "partition": 0, "after": 109,
                                      "through": 269}]  # fmt: skip
    assert offsets["previous_run"] == runs[0].info.run_id


def test_clustering_runs_carry_cluster_counts_and_profiles(
    redis_client: redis.Redis, redis_url: str, registry: Any, checkpoints: Checkpoints,
    tmp_path: Path,
) -> None:  # fmt: skip
    model = trained("ecci", 200)
    checkpoints.save("ecci", model)
    report = SnapshotService(settings(redis_url)).snapshot("ecci", force=True)
    assert report["status"] == "registered", report
    run_id = registry.get_model_version("ecci-river", str(report["version"])).run_id
    reports = _reports(registry, run_id, tmp_path)
    counts = reports["cluster_counts.json"]
    assert counts["events_assigned"] == sum(model.cluster_counts.values()) > 0
    assert {c["cluster"]: c["events"] for c in counts["clusters"]} == dict(model.cluster_counts)
    profiles = reports["cluster_profiles.json"]
    busiest = str(counts["clusters"][0]["cluster"])
    assert sum(profiles[busiest]["event_type"].values()) == counts["clusters"][0]["events"]
    # Written without a writer: no curve waited, the run holds the state's own point.
    steps = [m.step for m in registry.get_metric_history(run_id, "Silhouette")]
    assert steps == [200]


def test_curve_points_are_fenced_resumed_and_thinned(redis_client: redis.Redis) -> None:
    keys = Keys("eta")
    model = trained("eta", 0)
    redis_client.set(keys.lease, "mine")
    recorder = CurveRecorder(redis_client, "eta", every=10, max_points=6)
    assert recorder.start_lineage("mine", model)
    for n in (1, 10, 20, 30, 40):
        recorder.add(Point(n, 1000 * n, {"MAE": float(n)}))
    assert recorder.flush("mine")
    model.events_learned = 20  # a new writer resumes from a checkpoint at 20 events
    assert recorder.resume("mine", model)
    assert [p.events_learned for p in pending(redis_client, "eta", 100).points] == [1, 10, 20]
    for n in range(30, 110, 10):
        recorder.add(Point(n, 1000 * n, {"MAE": float(n)}))
    assert recorder.flush("mine")
    kept = [p.events_learned for p in pending(redis_client, "eta", 1000).points]
    assert len(kept) <= 6 and kept[0] == 1 and kept[-1] == 100, kept
    assert max(b - a for a, b in zip(kept, kept[1:], strict=False)) <= 40, kept
    recorder.add(Point(110, 0, {}))
    assert not recorder.flush("not-the-holder")  # fenced: a deposed writer writes nothing
    assert pending(redis_client, "eta", 1000).points[-1].events_learned == 100
    lineage = pending(redis_client, "eta", 0).base.lineage
    assert rebase(redis_client, "eta", "mine", model, version="4")  # coelho reset
    after = pending(redis_client, "eta", 1000)
    assert after.points == [] and after.base.lineage != lineage
    assert (after.base.events_learned, after.base.version) == (20, "4")


def _undo_advance(client: redis.Redis, before: Pending) -> None:
    keys, base = Keys("tfd"), before.base
    client.hset(
        keys.curve_base,
        mapping={
            "lineage": base.lineage,
            "events_learned": base.events_learned,
            "offsets": json.dumps(base.offsets),
            "run_id": base.run_id,
            "version": base.version,
        },
    )
    client.zadd(keys.curve, {p.encode(): p.events_learned for p in before.points})


def _reset_to_version_1(client: redis.Redis) -> int:
    """``coelho reset tfd --to 1`` (the log path); the state version it installed."""
    from coelho.registry import shared, version_info
    from coelho.reset import reset
    from coelho.serving import Selector

    registry = shared()
    found = registry.resolve("tfd", Selector("version", 1))
    key = TEST_STATE_KEY.encode()
    done = reset(client, "tfd", registry.load(found, key), 1, version_info(found).position, key,
                 log_retention=100_000)  # fmt: skip
    assert done.replay == "log", done
    return done.state_version


def _checkpoint(client: redis.Redis) -> tuple[int, int]:
    """(events learned, state version) of the current checkpoint."""
    learned, version = client.hmget(Keys("tfd").checkpoint, ["events_learned", "version"])
    return int(learned or 0), int(version or 0)


def _reports(registry: Any, run_id: str, tmp_path: Path) -> dict[str, Any]:
    import mlflow

    where = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="reports",
                                                dst_path=str(tmp_path / run_id))  # fmt: skip
    return {p.name: json.loads(p.read_text()) for p in Path(where).glob("*.json")}


def test_a_writer_taking_over_records_the_points_after_the_checkpoint_once(
    redis_client: redis.Redis, redis_url: str, tfd_stream: list[Any]
) -> None:
    """Writer A checkpoints at 40 events, records a point at 50, learns to 60 and dies (no
    stop, its lease expires). Writer B resumes at 40, drops A's point at 50 and records its
    own: one point per step, as B's replay made it."""
    config = settings(redis_url, checkpoint_every=40, checkpoint_seconds=1000)
    log = EventLog(redis_client, "tfd", 60)
    first = DomainWriter(redis.Redis.from_url(redis_url), "tfd", config)
    first.start()
    learn_through(redis_client, log, tfd_stream, 40)
    topic = get("tfd").topic
    for offset in range(40, 60):
        log.append(SOURCE, f"partition:0/offset:{offset}", tfd_stream[offset], (topic, 0, offset))
    deadline = time.monotonic() + 30
    while redis_client.zcard(Keys("tfd").curve) < 3:  # points 1, 25 and 50 flushed
        assert time.monotonic() < deadline, "the writer recorded no point at 50"
        time.sleep(0.05)
    first._stop.set()  # dies: no checkpoint at 60, the lease left to expire
    assert first._thread is not None
    first._thread.join(5)
    recorded = redis_client.zrange(Keys("tfd").curve, 0, -1, withscores=True)
    assert [score for _, score in recorded] == [1, 25, 50]
    # A point after the checkpoint that the replay will not reproduce byte for byte (as with
    # an event without a timestamp: the wall clock then): only the new writer's may remain.
    member, _ = recorded[-1]
    redis_client.zrem(Keys("tfd").curve, member)
    redis_client.zadd(Keys("tfd").curve, {member.replace(b'"t":', b'"t":1'): 50})
    redis_client.delete(Keys("tfd").lease)  # as its expiry would, sooner
    redis_client.delete(Keys("tfd").stats)  # what the second writer publishes, from now on
    second = DomainWriter(redis.Redis.from_url(redis_url), "tfd", config)
    second.start()
    try:
        deadline = time.monotonic() + 30
        while int(redis_client.hget(Keys("tfd").stats, "events_learned") or 0) < 60:
            assert time.monotonic() < deadline, "the second writer did not catch up"
            time.sleep(0.05)
    finally:
        second.stop()
    assert redis_client.zrange(Keys("tfd").curve, 0, -1, withscores=True) == recorded
