"""The archive, exactly once, against real Kafka, Redis, MinIO and function processes.

- The whole local path (producer -> Kafka -> emulated KafkaSource/Broker/Trigger -> learn ->
  Redis log -> archive function -> Delta on MinIO) with redeliveries to the learn functions
  and the archive function SIGKILLed at random instants while ticks keep coming: each
  domain's table ends with exactly the acknowledged events, once each, and a reader that
  does not use delta-rs sees the same rows.
- Two archivers racing on one table: one commit wins, the other re-reads its cursor.
- Checkpoints never trim an event the archive has not read (archive stopped, then resumed).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from coelho.domains import REGISTRY, get
from coelho.eventing import Emulator
from coelho.lakehouse.archive import APP_ID, DomainArchive
from coelho.lakehouse.storage import Storage
from coelho.producer import run as produce
from coelho.settings import LakehouseSettings
from coelho.stack.config import function_argv
from coelho.stack.kafka import ensure_topics
from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.state import EventLog
from coelho.state.checkpoint import CheckpointStore
from coelho.state.keys import Keys
from tests.conftest import REPO, TEST_STATE_KEY
from tests.helpers import rewrite_manifests
from tests.lakehouse import fresh_buckets, post_json, read_delta_log, tick
from tests.lakehouse import tick_headers as ping

N = 300
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
LEARN_ENV = {"COELHO_CHECKPOINT_EVERY": "100", "COELHO_CHECKPOINT_SECONDS": "0.5"}


class ArchiveProcess:
    """The archive function as a real process the test may SIGKILL (whole process group)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.child: Child | None = None
        self.url = ""
        self.kills = 0

    def start(self) -> str:
        port = free_port()
        argv = function_argv(REPO / "functions" / "archive" / "main.py", port)
        log_path = self.log_dir / f"archive-{self.kills}.log"
        self.child = Child("archive", argv, env=self.env, cwd=REPO, log_path=log_path).start()
        self.url = f"http://{HOST}:{port}"
        self.child.wait_ready(lambda: http_ok(f"{self.url}/health/readiness"), timeout=60,
                              what="ready")  # fmt: skip
        return self.url

    def kill(self) -> None:
        assert self.child is not None and self.child.proc is not None
        os.killpg(self.child.proc.pid, signal.SIGKILL)
        self.child.proc.wait(10)
        self.kills += 1

    def stop(self) -> None:
        if self.child is not None and self.child.alive():
            self.child.stop(timeout=10)


@pytest.fixture
def lakehouse_env(s3_server: Any, redis_url: str) -> Iterator[dict[str, str]]:
    env = {**os.environ, "COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": TEST_STATE_KEY,
           **fresh_buckets(s3_server)}  # fmt: skip
    yield env


def storage(env: dict[str, str]) -> Storage:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return Storage(LakehouseSettings.from_env())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def tick_until_drained(url: str, domains: list[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, report = tick(url, domains=domains)
        assert status == 200, report
        if all(report[d]["drained"] and report[d]["archived"] == 0 for d in domains):
            return report
        if time.monotonic() > deadline:  # a hang guard, not a speed bound
            pytest.fail(f"archive not drained in {timeout} s: {report}")


def test_whole_path_exactly_once_with_redeliveries_and_sigkills(
    kafka_bootstrap: str,
    redis_client: redis.Redis,
    serve_function: Any,
    lakehouse_env: dict[str, str],
    tmp_path: Path,
) -> None:
    run = uuid.uuid4().hex[:8]
    topics = {d.topic: f"{d.topic}-{run}" for d in REGISTRY.values()}
    ensure_topics(kafka_bootstrap, topics.values())
    learn = {f"learn-{d}": serve_function(f"learn-{d}", LEARN_ENV) for d in REGISTRY}
    services = {**learn, "dead-letters": serve_function("dead-letters")}
    manifests = rewrite_manifests(tmp_path / "eventing", group_suffix=run, topics=topics)
    archive = ArchiveProcess({**lakehouse_env, "COELHO_ARCHIVE_BATCH": "40"}, tmp_path)
    archive.start()
    stop = threading.Event()

    def ticker() -> None:
        """Ticks while the test kills the process under them: errors are expected."""
        while not stop.is_set():
            try:
                post_json(f"{archive.url}/", {"task": "archive"}, ping(), timeout=30)
            except OSError:
                pass
            stop.wait(0.05)

    for key, spec in REGISTRY.items():
        produce(key, kafka_bootstrap, count=N, seed=31, rate=0, start=START,
                topic=topics[spec.topic])  # fmt: skip
    emulator = Emulator(manifests, kafka_bootstrap, services, commit_interval=0.2).start()
    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    rng = random.Random(13)
    try:
        deadline = time.monotonic() + 180
        while archive.kills < 6:
            time.sleep(rng.uniform(0.2, 1.5))
            archive.kill()
            archive.start()
            if time.monotonic() > deadline:  # a hang guard, not a speed bound
                pytest.fail("kill loop did not finish")
        # Redeliveries: every logged event of each domain sent again, as the Broker would.
        logs = {k: EventLog(redis_client, k, 60) for k in REGISTRY}
        for key, log in logs.items():
            for entry in log.entries()[:50]:
                headers = {**ping(), "ce-type": "dev.knative.kafka.event",
                           "ce-source": entry.source, "ce-id": entry.event_id,
                           "ce-domain": key}  # fmt: skip
                status, _ = post_json(learn[f"learn-{key}"], entry.event, headers)
                assert status == 202
        _wait_logged(redis_client, N)
        time.sleep(rng.uniform(0.1, 0.5))
        archive.kill()
        stop.set()
        thread.join(30)
        archive.start()
        tick_until_drained(archive.url, sorted(REGISTRY))
    finally:
        stop.set()
        emulator.stop()
        archive.stop()
    assert archive.kills >= 7
    store = storage(lakehouse_env)
    for key, domain in REGISTRY.items():
        acknowledged = [e.event_id for e in EventLog(redis_client, key, 60).entries()]
        assert len(acknowledged) == N == len(set(acknowledged)), key
        assert int(redis_client.hget(Keys(key).counters, "duplicates_skipped") or 0) >= 50
        table = DomainArchive(domain, redis_client, store).table().to_pyarrow_dataset().to_table()
        ids = table.column("ce_id").to_pylist()
        assert len(ids) == N, f"{key}: {len(ids)} rows for {N} acknowledged events"
        assert sorted(ids) == sorted(acknowledged), key
        produced = [e[domain.event_id] for e in _produced(key)]
        assert sorted(table.column(domain.event_id).to_pylist()) == sorted(produced)
        independent = read_delta_log(lakehouse_env, domain.table)
        assert independent.num_rows == N
        mine = table.sort_by("log_id").select(["log_id", "ce_id", domain.event_id])
        theirs = independent.sort_by("log_id").select(["log_id", "ce_id", domain.event_id])
        assert mine.to_pylist() == theirs.to_pylist(), key
        mirror = redis_client.hgetall(Keys(key).archive)
        assert int(mirror[b"rows"]) == N and mirror[b"ordinal"] == str(N).encode()


def _produced(key: str) -> list[dict[str, Any]]:
    events = get(key).produce(seed=31, start=START)
    return [next(events) for _ in range(N)]


def _wait_logged(client: redis.Redis, n: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        counts = {k: int(client.hget(Keys(k).counters, "appended") or 0) for k in REGISTRY}
        if all(c >= n for c in counts.values()):
            return
        if time.monotonic() > deadline:  # a hang guard, not a speed bound
            pytest.fail(f"learn functions logged {counts} of {n} each")
        time.sleep(0.2)


def _append(client: redis.Redis, key: str, n: int, first: int = 0) -> list[str]:
    domain, log = get(key), EventLog(client, key, 3600)
    events = domain.produce(seed=first, start=START)
    ids = []
    for i in range(first, first + n):
        assert log.append("test", f"e-{i}", domain.validate(next(events)), ("t", 0, i)).entry_id
        ids.append(f"e-{i}")
    return ids


def test_two_archivers_racing_commit_each_entry_once(
    redis_client: redis.Redis, lakehouse_env: dict[str, str]
) -> None:
    ids = _append(redis_client, "tfd", 400)
    store = storage(lakehouse_env)
    archives = [DomainArchive(get("tfd"), redis_client, store) for _ in range(3)]
    archives[0].table()  # create it once, so the racers all start from the same version
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda a=a: reports.append(a.run(60, 25)))
               for a in archives]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(r.archived for r in reports) == 400
    assert sum(r.conflicts for r in reports) > 0, "the racers never collided: no test"
    table = archives[0].table()
    assert sorted(table.to_pyarrow_dataset().to_table().column("ce_id").to_pylist()) == sorted(ids)
    assert table.transaction_version(APP_ID) is not None


def test_a_retried_batch_is_a_no_op(redis_client: redis.Redis, lakehouse_env: dict[str, str]):
    """An archiver that read the cursor before another committed cannot commit the same rows."""
    from deltalake import CommitProperties, Transaction, write_deltalake
    from deltalake.exceptions import CommitFailedError

    _append(redis_client, "eta", 30)
    store = storage(lakehouse_env)
    stale, fresh = (DomainArchive(get("eta"), redis_client, store) for _ in range(2))
    table = stale.table()
    entries = stale._read("0-0", 30)[1]
    assert fresh.run(10, 100).archived == 30
    props = CommitProperties(max_commit_retries=0, app_transactions=[Transaction(APP_ID, 1)])
    with pytest.raises(CommitFailedError):
        write_deltalake(table, stale.layout.rows(entries), mode="append", commit_properties=props)
    assert fresh.run(10, 100).archived == 0
    assert fresh.table().to_pyarrow_dataset().count_rows() == 30


def test_checkpoints_never_trim_unarchived_events(
    redis_client: redis.Redis, lakehouse_env: dict[str, str]
) -> None:
    """Archive stopped: checkpoints with retention 0 keep every entry; resumed: all archived,
    and only then may the log be trimmed."""
    import secrets

    key = "ecci"
    ids = _append(redis_client, key, 120)
    store = CheckpointStore(redis_client, key, TEST_STATE_KEY.encode(), log_retention=0)
    log = EventLog(redis_client, key, 60)
    last = log.last_id()

    def checkpoint() -> None:
        token = secrets.token_hex(4)
        redis_client.set(Keys(key).lease, token, px=10_000)
        assert store.save({"model": "stand-in"}, last, 120, token) is not None
        redis_client.delete(Keys(key).lease)

    checkpoint()  # the model covers every entry, the archive none: nothing may go
    assert redis_client.xlen(Keys(key).log) == 120
    archive = DomainArchive(get(key), redis_client, storage(lakehouse_env))
    first = archive.run(10, 50)
    assert first.archived == 120
    ids += _append(redis_client, key, 30, first=120)
    checkpoint()  # covers only up to ``last``: the 30 new entries stay, the archived go
    assert redis_client.xlen(Keys(key).log) == 30 + 1  # MINID keeps the cursor's own entry
    assert archive.run(10, 50).archived == 30
    rows = archive.table().to_pyarrow_dataset().to_table().column("ce_id").to_pylist()
    assert sorted(rows) == sorted(ids)
    # The same checkpoint without the guard trims what the archive never read: the test bites.
    _append(redis_client, "tfd", 50)
    unguarded = CheckpointStore(
        redis_client, "tfd", TEST_STATE_KEY.encode(), 0, archive_guard=False
    )
    token = secrets.token_hex(4)
    redis_client.set(Keys("tfd").lease, token, px=10_000)
    unguarded.save({"model": "stand-in"}, EventLog(redis_client, "tfd", 60).last_id(), 50, token)
    assert redis_client.xlen(Keys("tfd").log) == 1


def test_dead_letters_land_in_raw_data_once_with_their_reasons(
    redis_client: redis.Redis, lakehouse_env: dict[str, str]
) -> None:
    """A crash after the object is written but before the cursor moves rewrites the same
    object: every record appears in exactly one object line."""
    import json

    from pyarrow import fs as pafs

    from coelho.lakehouse.deadletters import archive_dead_letters
    from coelho.state.keys import DEAD_LETTERS, DEAD_LETTERS_ARCHIVE
    from tests.lakehouse import filesystem

    for i in range(3):
        redis_client.xadd(DEAD_LETTERS, {"domain": "tfd", "id": f"d-{i}", "code": "400",
                                         "reason": f"amount: bad {i}", "data": "{}"})  # fmt: skip
    store = storage(lakehouse_env)
    assert archive_dead_letters(redis_client, store) == 3
    redis_client.delete(DEAD_LETTERS_ARCHIVE)  # the cursor update "lost" in a crash
    redis_client.xadd(DEAD_LETTERS, {"domain": "eta", "id": "d-3", "reason": "late", "data": ""})
    assert archive_dead_letters(redis_client, store) == 4
    assert archive_dead_letters(redis_client, store) == 0
    s3 = filesystem(lakehouse_env)
    selector = pafs.FileSelector(lakehouse_env["COELHO_RAW_BUCKET"], recursive=True)
    objects = [i.path for i in s3.get_file_info(selector) if i.path.endswith(".jsonl")]
    lines = []
    for path in objects:
        with s3.open_input_stream(path) as stream:
            lines += [json.loads(x) for x in stream.read().decode().splitlines()]
    assert len(objects) == 1 and "/dead-letters/date=" in objects[0]
    assert sorted(r["id"] for r in lines) == ["d-0", "d-1", "d-2", "d-3"]
    assert {r["reason"] for r in lines} >= {"amount: bad 0", "late"}


def test_a_log_behind_the_cursor_fails_loudly(
    redis_client: redis.Redis, lakehouse_env: dict[str, str]
) -> None:
    """Redis lost its data and came back with an older clock: its new entries sort below the
    archive cursor, and the pass says so instead of skipping them."""
    _append(redis_client, "eta", 5)
    archive = DomainArchive(get("eta"), redis_client, storage(lakehouse_env))
    assert archive.run(10, 100).archived == 5
    redis_client.delete(Keys("eta").log, Keys("eta").archive)
    redis_client.xadd(Keys("eta").log, {"d": "{}", "s": "x", "i": "y", "t": "", "p": -1, "o": -1},
                      id="1-1")  # fmt: skip
    with pytest.raises(RuntimeError, match="below the archive cursor"):
        archive.run(10, 100)
