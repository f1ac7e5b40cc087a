"""Dedupe by Kafka position (coelho.state.positions) against a real Redis, and the cases that
positions introduce: out-of-order arrival, gaps left by dead letters, two sources on one
domain, a rebalance re-reading committed offsets (real Kafka + emulator + learn function) and
a writer restoring a snapshot (replay after recovery)."""

from __future__ import annotations

import itertools
import random
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Request
from kafka.admin import KafkaAdminClient
from kafka.structs import OffsetAndMetadata
from werkzeug.test import EnvironBuilder

from coelho.domains import get
from coelho.eventing import Emulator
from coelho.handlers.deadletters import DeadLetterService
from coelho.learning import OnlineModel
from coelho.producer import run as produce
from coelho.settings import Settings
from coelho.stack.kafka import ensure_topics
from coelho.state import CheckpointStore, DomainWriter, EventLog, Keys
from coelho.state.keys import DEAD_LETTERS
from coelho.state.positions import ranges, seed_floors
from tests.conftest import TEST_STATE_KEY
from tests.helpers import rewrite_manifests, same_prediction
from tests.integration.test_exactly_once import START, assert_equals_plain_river, wait_checkpoint
from tests.integration.test_learn_path import FAST

A = "/apis/v1/namespaces/coelho/kafkasources/tfd#transaction_fraud_detection"
B = "/apis/v1/namespaces/coelho/kafkasources/tfd-backfill#transaction_fraud_detection_backfill"


def _append(log: EventLog, offset: int, partition: int = 0, source: str = A) -> bool:
    """True if appended, False if it was a duplicate."""
    event_id = f"partition:{partition}/offset:{offset}"
    topic = source.rsplit("#", 1)[1]
    result = log.append(source, event_id, {"o": offset}, (topic, partition, offset))
    return not result.duplicate


def test_out_of_order_retried_and_redelivered_offsets_are_each_appended_once(
    redis_client: redis.Redis,
) -> None:
    log = EventLog(redis_client, "tfd", 60)
    # Offset 7 is "retried" (a 503) while every later offset gets through: a high-water mark
    # would call it a duplicate when it finally arrives.
    assert all(_append(log, o) for o in [*range(7), *range(8, 50)])
    assert ranges(redis_client, "tfd", A, 0) == [(0, 6), (8, 49)]
    assert _append(log, 7)
    assert ranges(redis_client, "tfd", A, 0) == [(0, 49)]
    offsets = list(range(50, 2050)) * 2  # every offset twice, in random order
    random.Random(3).shuffle(offsets)
    appended = [o for o in offsets if _append(log, o)]
    assert sorted(appended) == list(range(50, 2050))
    assert ranges(redis_client, "tfd", A, 0) == [(0, 2049)]
    counters = redis_client.hgetall(Keys("tfd").counters)
    assert counters == {b"appended": b"2050", b"duplicates_skipped": b"2000"}
    # O(partitions): no per-event key, one small sorted set.
    assert list(redis_client.scan_iter("coelho:tfd:seen:*")) == []
    assert redis_client.zcard(Keys("tfd").positions(A, 0)) == 1
    assert redis_client.memory_usage(Keys("tfd").positions(A, 0)) < 2048


def test_two_sources_on_one_domain_keep_their_positions_apart(redis_client: redis.Redis) -> None:
    log = EventLog(redis_client, "tfd", 60)
    for source in (A, B):
        assert [_append(log, o, p, source) for p in (0, 1) for o in range(20)] == [True] * 40
    for source in (A, B):
        assert [_append(log, o, p, source) for p in (0, 1) for o in range(20)] == [False] * 40
        assert ranges(redis_client, "tfd", source, 1) == [(0, 19)]
    assert len(log.entries()) == 80


def test_an_id_that_is_not_a_position_keeps_a_marker_with_the_configured_ttl(
    redis_client: redis.Redis,
) -> None:
    log = EventLog(redis_client, "tfd", 3600)
    for event_id in ("a-producer-uuid", "partition:01/offset:5"):  # not the KafkaSource's form
        assert not log.append(A, event_id, {}, None).duplicate
        assert log.append(A, event_id, {}, None).duplicate
    markers = list(redis_client.scan_iter("coelho:tfd:seen:*"))
    assert len(markers) == 2
    assert all(0 < redis_client.ttl(key) <= 3600 for key in markers)
    assert Settings.from_env().dedupe_ttl_seconds == 3600  # the documented default


def test_past_the_cap_the_oldest_gap_is_closed_and_counted(redis_client: redis.Redis) -> None:
    log = EventLog(redis_client, "eta", 60, max_ranges=3)
    assert all(_append(log, o) for o in (0, 2, 4, 6, 8))
    assert ranges(redis_client, "eta", A, 0) == [(0, 4), (6, 6), (8, 8)]
    assert redis_client.hget(Keys("eta").counters, "gaps_closed") == b"2"
    assert not _append(log, 1)  # closed: treated as resolved
    assert _append(log, 7)


def _dead_letter(service: DeadLetterService, event_id: str, source: str = A) -> None:
    headers = {"ce-specversion": "1.0", "ce-type": "dev.knative.kafka.event",
               "ce-source": source, "ce-id": event_id, "ce-domain": "tfd",
               "ce-knativeerrorcode": "400", "content-type": "application/json"}  # fmt: skip
    builder = EnvironBuilder(method="POST", data=b'{"amount": "x"}', headers=headers)
    assert service.keep(Request(builder.get_environ())) == ("", 202)


def test_a_dead_lettered_offset_closes_its_gap_and_is_kept_once(
    redis_client: redis.Redis, redis_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("COELHO_REDIS_URL", redis_url)
    service = DeadLetterService()
    log = EventLog(redis_client, "tfd", 60)
    assert all(_append(log, o) for o in (0, 1, 3, 4))
    assert ranges(redis_client, "tfd", A, 0) == [(0, 1), (3, 4)]
    for _ in range(2):  # the sink's own redelivery is kept once
        _dead_letter(service, "partition:0/offset:2")
    assert ranges(redis_client, "tfd", A, 0) == [(0, 4)]
    assert redis_client.xlen(DEAD_LETTERS) == 1
    assert redis_client.hget(Keys("tfd").counters, "dead_lettered") == b"1"
    assert not _append(log, 2)  # a re-read of the record: accounted for, in the dead letters
    _dead_letter(service, "partition:0/offset:4")  # appended, then given up on: not kept
    assert redis_client.xlen(DEAD_LETTERS) == 1
    for _ in range(2):
        _dead_letter(service, "not-a-position")
    assert redis_client.xlen(DEAD_LETTERS) == 2
    (marker,) = redis_client.scan_iter("coelho:deadletters:seen:*")
    assert 0 < redis_client.ttl(marker) <= Settings.from_env().dedupe_ttl_seconds


def test_a_rebalance_re_reading_committed_offsets_appends_nothing_twice(
    kafka_bootstrap: str, redis_client: redis.Redis, serve_function: Any, tmp_path: Path
) -> None:
    tfd = get("tfd")
    run = uuid.uuid4().hex[:8]
    topic, group = f"{tfd.topic}-{run}", f"coelho-tfd-{run}"
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    services = {"learn-tfd": serve_function("learn-tfd", FAST),
                "dead-letters": serve_function("dead-letters"),
                "learn-eta": "http://127.0.0.1:9", "learn-ecci": "http://127.0.0.1:9"}  # fmt: skip
    manifests = rewrite_manifests(
        tmp_path / "eventing", group_suffix=run, topics={tfd.topic: topic}, only_sources={"tfd"}
    )
    produce("tfd", kafka_bootstrap, count=240, seed=21, rate=0, start=START, topic=topic)
    emulator = Emulator(manifests, kafka_bootstrap, services, commit_interval=0.2).start()
    try:
        wait_checkpoint(redis_client, "tfd", 240)
    finally:
        emulator.stop()
    # A consumer that crashed re-reads from its group's last commit, which lags what it had
    # delivered: rewind every partition to half of what was committed.
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        committed = admin.list_group_offsets(group)[group]
        rewound = {
            tp: OffsetAndMetadata(meta.offset // 2, "", -1) for tp, meta in committed.items()
        }
        admin.alter_group_offsets(group, rewound)
    finally:
        admin.close()
    re_read = sum(meta.offset - rewound[tp].offset for tp, meta in committed.items())
    assert sum(meta.offset for meta in committed.values()) == 240 and re_read >= 100
    produce("tfd", kafka_bootstrap, count=60, seed=22, rate=0, start=START, topic=topic)
    emulator = Emulator(manifests, kafka_bootstrap, services, commit_interval=0.2).start()
    try:
        wait_checkpoint(redis_client, "tfd", 300)
        deadline = time.monotonic() + 60
        while int(redis_client.hget(Keys("tfd").counters, "duplicates_skipped") or 0) < re_read:
            if time.monotonic() > deadline:  # a hang guard, not a speed bound
                pytest.fail("the re-read records did not all arrive")
            time.sleep(0.2)
    finally:
        emulator.stop()
    counters = redis_client.hgetall(Keys("tfd").counters)
    assert int(counters[b"appended"]) == 300
    assert int(counters[b"duplicates_skipped"]) == re_read
    assert_equals_plain_river(redis_client, "tfd", 300)


def test_a_writer_restoring_a_snapshot_makes_the_offsets_it_covers_duplicates(
    redis_client: redis.Redis, redis_url: str
) -> None:
    """Replay after recovery: whatever re-reads arrive, each record is learned once."""
    tfd = get("tfd")
    stream = [tfd.validate(e) for e in itertools.islice(tfd.produce(seed=4, start=START), 150)]
    snapshot = OnlineModel.create("tfd")
    for offset in range(100):
        snapshot.learn(stream[offset], (tfd.topic, 0, offset))
    restored: list[OnlineModel] = []

    def restore(domain: str) -> OnlineModel:
        restored.append(snapshot)
        return snapshot

    settings = Settings(redis_url=redis_url, state_key=TEST_STATE_KEY.encode(),
                        checkpoint_every=50, checkpoint_seconds=0.2, dedupe_ttl_seconds=60,
                        lease_ms=1000, log_retention=1_000_000)  # fmt: skip
    writer = DomainWriter(redis.Redis.from_url(redis_url), "tfd", settings, restore=restore)
    writer.start()
    try:
        wait_checkpoint(redis_client, "tfd", 100)
        assert restored and redis_client.hgetall(Keys("tfd").floors) == {
            f"{tfd.topic}:0".encode(): b"99"
        }
        log = EventLog(redis_client, "tfd", 60)
        # A consumer re-reading from offset 40 (its lagging commit), then the replay from 100.
        for offset in range(40, 150):
            appended = log.append(A, f"partition:0/offset:{offset}", stream[offset],
                                  (tfd.topic, 0, offset))  # fmt: skip
            assert appended.duplicate == (offset < 100)
        wait_checkpoint(redis_client, "tfd", 150)
    finally:
        writer.stop()
    reference = OnlineModel.create("tfd")
    for offset, event in enumerate(stream):
        reference.learn(event, (tfd.topic, 0, offset))
    final = CheckpointStore(redis_client, "tfd", TEST_STATE_KEY.encode()).load()
    assert final is not None and final.model.events_learned == 150
    assert final.model.offsets == reference.offsets
    for probe in [tfd.validate_request(e) for e in itertools.islice(tfd.produce(seed=999), 30)]:
        assert same_prediction(final.model.predict(probe), reference.predict(probe))


def test_seeded_floors_apply_to_every_source_of_the_topic(redis_client: redis.Redis) -> None:
    seed_floors(redis_client, "tfd", {"transaction_fraud_detection": {1: 9}})
    log = EventLog(redis_client, "tfd", 60)
    assert [_append(log, o, 1) for o in (5, 9, 10)] == [False, False, True]
    assert _append(log, 5, 0)  # another partition: no floor
    assert _append(log, 5, 1, "/apis/v1/namespaces/coelho/kafkasources/other#another_topic")
