"""The lakehouse bench: archive throughput and lag, and SQL over 100k archived events per domain.

Per domain, against a real Redis and MinIO started here:

1. ``events_per_s``: ``COELHO_BENCH_ARCHIVE_EVENTS`` (default 100,000) events already in the
   domain's log, archived by ``DomainArchive.run`` (the archive function's work, in process, in
   commits of ``COELHO_ARCHIVE_BATCH`` = 5,000) from the first read to the last commit.
2. ``lag_p99_s``: events appended at ``COELHO_BENCH_ARCHIVE_RATE`` (default 1,000/s, about the
   learn path's throughput) for ``COELHO_BENCH_ARCHIVE_SECONDS`` (default 15 s) while the
   archive runs pass after pass; an event's lag is its commit's timestamp (the Delta log)
   minus its acknowledgement time (its log id). The PingSource's period (60 s) adds to this on
   the cluster and locally; this is the archive's own share.
3. ``count_ms`` / ``group_by_ms``: median of 5 of ``SELECT count(*)`` and of the domain's first
   GROUP BY template, through the query function's code (catalog + locked DuckDB), on the
   table as archived (``files`` small files) and again after ``optimize`` (``*_compacted``).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis

from coelho.domains import REGISTRY, get
from coelho.lakehouse import cursor
from coelho.lakehouse.archive import DomainArchive
from coelho.lakehouse.catalog import Catalog
from coelho.lakehouse.maintenance import maintain
from coelho.lakehouse.sql import Limits, run_query
from coelho.lakehouse.storage import Storage
from coelho.settings import LakehouseSettings
from coelho.stack.redis import RedisServer
from coelho.stack.s3 import S3Server, create_buckets, lakehouse_env
from coelho.state.log import EventLog

REPO = Path(__file__).resolve().parents[2]
BATCH = 5000


def _fill(client: redis.Redis, key: str, n: int, prefix: str) -> None:
    domain, log = get(key), EventLog(client, key, 3600)
    events = domain.produce(seed=11)
    for i in range(n):
        log.append("bench", f"{prefix}-{i}", domain.validate(next(events)), (domain.topic, 0, i))


def _stream(client: redis.Redis, key: str, rate: float, seconds: float, done: threading.Event):
    domain, log = get(key), EventLog(client, key, 3600)
    events = domain.produce(seed=12)
    start = time.monotonic()
    i = 0
    while (elapsed := time.monotonic() - start) < seconds:  # bounded by ``seconds``
        due = int(elapsed * rate)
        while i < due:
            log.append("bench", f"s-{i}", domain.validate(next(events)), (domain.topic, 1, i))
            i += 1
        time.sleep(0.005)
    done.set()


def _lags(archive: DomainArchive, since: str) -> list[float]:
    """Per event appended after ``since``: its commit time minus its acknowledgement time."""
    table = archive.table()
    commits = [(h["coelho.log_first"], h["coelho.log_last"], h["timestamp"] / 1000)
               for h in table.history() if "coelho.log_last" in h]  # fmt: skip
    ids = table.to_pyarrow_dataset().to_table(columns=["log_id"]).column("log_id").to_pylist()
    lags = []
    for log_id in ids:
        if not cursor.before(since, log_id):
            continue
        commit = next(
            ts
            for first, last, ts in commits
            if not cursor.before(log_id, first) and not cursor.before(last, log_id)
        )
        lags.append(commit - cursor.split(log_id)[0] / 1000)
    return lags


def _median_ms(storage: Storage, table: str, sql: str, repeats: int = 5) -> float:
    catalog, times = Catalog(storage), []
    for _ in range(repeats):
        started = time.perf_counter()
        run_query(catalog.dataset(table), sql, Limits(max_rows=10_000, timeout_seconds=60))
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def _group_by(key: str) -> str:
    return next(sql for _, sql in get(key).sql_templates if "GROUP BY" in sql)


def run_lakehouse_bench() -> dict[str, Any]:
    n = int(os.environ.get("COELHO_BENCH_ARCHIVE_EVENTS", "100000"))
    rate = float(os.environ.get("COELHO_BENCH_ARCHIVE_RATE", "1000"))
    seconds = float(os.environ.get("COELHO_BENCH_ARCHIVE_SECONDS", "15"))
    root = Path(tempfile.mkdtemp(prefix="coelho-bench-lakehouse-"))
    results: dict[str, Any] = {"archive": {}, "sql": {}}
    s3_server = S3Server(root / "s3", home=REPO / ".coelho")
    with RedisServer(root / "redis") as redis_server, s3_server as s3:
        create_buckets(s3.endpoint, s3.credentials, ("delta-lake",))
        os.environ.update(lakehouse_env(s3.env()))
        storage = Storage(LakehouseSettings.from_env())
        client = redis.Redis.from_url(redis_server.url)
        for key in REGISTRY:
            print(f"lakehouse {key}: {n} events to archive", file=sys.stderr)
            _fill(client, key, n, "b")
            archive = DomainArchive(get(key), client, storage)
            started = time.perf_counter()
            report = archive.run(budget_seconds=3600, batch=BATCH)
            elapsed = time.perf_counter() - started
            assert report.archived == n and report.drained, report
            since = report.position
            done = threading.Event()
            writer = threading.Thread(target=_stream, args=(client, key, rate, seconds, done))
            writer.start()
            while not done.is_set():  # bounded by the writer's ``seconds``
                archive.run(budget_seconds=5, batch=BATCH)
            writer.join()
            archive.run(budget_seconds=60, batch=BATCH)
            lags = _lags(archive, since)
            results["archive"][key] = {
                "events_per_s": round(n / elapsed),
                "lag_p99_s": round(statistics.quantiles(lags, n=100)[98], 3),
                "lag_p50_s": round(statistics.median(lags), 3),
                "streamed_events": len(lags),
            }
            table = get(key).table
            files = len(archive.table().file_uris())
            sql = {"rows": archive.table().to_pyarrow_dataset().count_rows(), "files": files,
                   "count_ms": _median_ms(storage, table, "SELECT count(*) FROM data"),
                   "group_by_ms": _median_ms(storage, table, _group_by(key))}  # fmt: skip
            maintain(archive, vacuum_hours=168)
            sql["files_compacted"] = len(archive.table().file_uris())
            sql["count_ms_compacted"] = _median_ms(storage, table, "SELECT count(*) FROM data")
            sql["group_by_ms_compacted"] = _median_ms(storage, table, _group_by(key))
            results["sql"][key] = sql
        client.close()
    return results


def table(results: dict[str, Any]) -> str:
    lines = ["| domain | archive ev/s | lag p50 s | lag p99 s | rows | files | count ms | "
             "group by ms | files compacted | count ms | group by ms |",
             "|---" * 11 + "|"]  # fmt: skip
    for key, a in results["archive"].items():
        s = results["sql"][key]
        lines.append(
            f"| {key} | {a['events_per_s']:,} | {a['lag_p50_s']} | {a['lag_p99_s']} | "
            f"{s['rows']:,} | {s['files']} | {s['count_ms']} | {s['group_by_ms']} | "
            f"{s['files_compacted']} | {s['count_ms_compacted']} | {s['group_by_ms_compacted']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import json

    out = run_lakehouse_bench()
    print(json.dumps(out, indent=2))
    print(table(out))
