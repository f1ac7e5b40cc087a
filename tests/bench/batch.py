"""The batch bench: one training per domain at 100k archived rows, then ``?model=batch`` latency.

Per domain, against a real Redis, MinIO and MLflow started here:

1. ``COELHO_BENCH_BATCH_ROWS`` (default 100,000) seeded events appended to the domain's log and
   archived into its Delta table (the archive function's code, in process);
2. ``train_s``: one training, ``coelho.batch.job.run`` (what the JobSink's Job runs) from the
   first table read to the registered version: loading, the fit (``fit_s``, also logged in the
   run), the holdout metrics, the River pipeline replayed over the same training rows
   (``river`` part of ``evaluate_s``), diagnostics and the MLflow logging; one OpenMP thread
   (``COELHO_BATCH_THREADS`` default);
3. ``predict_p50_ms`` / ``predict_p99_ms``: client-side latency of ``POST /?model=batch`` to
   ``predict-<domain>`` (the registered version loaded on the first request), sequential on
   one keep-alive connection, ``COELHO_BENCH_BATCH_REQUESTS`` (default 2,000) after 200
   warm-up requests; ``noop_p99_ms`` is a functions-framework no-op measured interleaved in
   blocks of 250 (tests/bench/predict.py), so ``p99_over_noop`` is a ratio of the same moment.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from coelho.batch import job
from coelho.batch.request import TrainRequest
from coelho.batch.status import TrainingStatus
from coelho.domains import REGISTRY, get
from coelho.lakehouse.archive import DomainArchive
from coelho.lakehouse.storage import Storage
from coelho.settings import BatchSettings, LakehouseSettings
from coelho.stack.mlflow import MlflowServer
from coelho.stack.probes import accepts
from coelho.stack.redis import RedisServer
from coelho.stack.s3 import S3Server, lakehouse_env
from coelho.state.log import EventLog
from tests.bench import predict as bench_predict

REPO = Path(__file__).resolve().parents[2]
STATE_KEY = "coelho-bench-key"


class Client:
    """One keep-alive connection to ``path``; ``post`` returns (status, seconds).

    A server may close a connection idle past its keep-alive timeout (gunicorn: 2 s) while the
    other server of the pair answers its block; that request is sent again on a new
    connection and only the attempt that was answered is timed."""

    def __init__(self, port: int, path: str = "/") -> None:
        self.port, self.path = port, path
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, body: bytes) -> tuple[int, float]:
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.conn.request("POST", self.path, body, {"Content-Type": "application/json"})
                response = self.conn.getresponse()
                response.read()
                return response.status, time.perf_counter() - started
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def _fill(client: redis.Redis, key: str, n: int) -> None:
    domain, log = get(key), EventLog(client, key, 3600)
    events = domain.produce(seed=17)
    for i in range(n):
        log.append("bench", f"batch-{i}", domain.validate(next(events)), (domain.topic, 0, i))


def _latency(port: int, noop_port: int, body: bytes, requests: int) -> dict[str, float]:
    predict, noop = Client(port, "/?model=batch"), Client(noop_port)
    timings: dict[str, list[float]] = {"predict": [], "noop": []}
    try:
        for _ in range(bench_predict.WARMUP):
            predict.post(body)
            noop.post(body)
        while len(timings["predict"]) < requests:  # bounded by ``requests``
            n = min(bench_predict.BLOCK, requests - len(timings["predict"]))
            for name, client in (("predict", predict), ("noop", noop)):
                for _ in range(n):
                    status, seconds = client.post(body)
                    if name == "predict" and status != 200:
                        raise RuntimeError(f"predict ?model=batch answered {status}")
                    timings[name].append(seconds * 1000)
    finally:
        predict.close()
        noop.close()
    pct = bench_predict._percentile
    p99, noop_p99 = pct(timings["predict"], 0.99), pct(timings["noop"], 0.99)
    return {"predict_p50_ms": round(pct(timings["predict"], 0.5), 3),
            "predict_p99_ms": round(p99, 3), "noop_p99_ms": round(noop_p99, 3),
            "p99_over_noop": round(p99 / noop_p99, 2)}  # fmt: skip


def run_batch_bench() -> dict[str, Any]:
    """``{"batch": {domain: {"rows", "train_s", "fit_s", "predict_p99_ms", ...}}}``."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="coelho-bench-batch-") as tmp:
        root = Path(tmp)
        s3_server = S3Server(root / "s3", home=REPO / ".coelho")
        with RedisServer(root / "redis") as redis_server, s3_server as s3:
            mlflow = MlflowServer(root / "mlflow", s3=s3.env()).start()
            try:
                os.environ.update(lakehouse_env(s3.env()))
                os.environ.update({"COELHO_REDIS_URL": redis_server.url,
                                   "COELHO_STATE_KEY": STATE_KEY,
                                   "MLFLOW_TRACKING_URI": mlflow.url})  # fmt: skip
                return {"batch": _domains(root, redis_server.url, mlflow.url)}
            finally:
                mlflow.stop()
                os.environ.clear()
                os.environ.update(saved)


def _domains(root: Path, redis_url: str, mlflow_url: str) -> dict[str, dict[str, Any]]:
    rows = int(os.environ.get("COELHO_BENCH_BATCH_ROWS", "100000"))
    requests = int(os.environ.get("COELHO_BENCH_BATCH_REQUESTS", "2000"))
    storage = Storage(LakehouseSettings.from_env())
    client = redis.Redis.from_url(redis_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    found: dict[str, dict[str, Any]] = {}
    for key, domain in REGISTRY.items():
        if domain.batch is None:
            continue
        print(f"batch {key}: {rows:,} rows to archive and train on", file=sys.stderr)
        _fill(client, key, rows)
        report = DomainArchive(domain, client, storage).run(3600, 5000)
        assert report.archived == rows, report
        found[key] = _train(key, client, storage, mlflow_url)
        body = json.dumps(domain.validate_request(next(domain.produce(seed=5)))).encode()
        source = REPO / "functions" / f"predict-{key}" / "main.py"
        # Both servers start now, side by side, so neither idles through the training.
        children = [bench_predict._spawn(source, env, root, f"predict-{key}"),
                    bench_predict._spawn(bench_predict.NOOP, env, root, f"noop-{key}")]  # fmt: skip
        try:
            for child, port in children:
                child.wait_ready(lambda p=port: accepts(p), timeout=60, what="listening")
            found[key].update(_latency(children[0][1], children[1][1], body, requests))
        finally:
            for child, _ in children:
                child.stop(timeout=10)
        print(f"batch {key}: {json.dumps(found[key])}", file=sys.stderr)
    return found


def _train(key: str, client: redis.Redis, storage: Storage, uri: str) -> dict[str, Any]:
    from mlflow import MlflowClient

    settings = BatchSettings.from_env()
    started = time.perf_counter()
    outcome = job.run(TrainRequest.new(key, source="coelho.test"), client, storage,
                      settings=settings, uri=uri)  # fmt: skip
    seconds = time.perf_counter() - started
    status = TrainingStatus(client, key).read()
    if outcome != "done":
        raise RuntimeError(f"batch {key}: training {outcome}: {status.get('message')}")
    metrics = MlflowClient(uri).get_run(status["run_id"]).data.metrics
    spec = get(key).batch
    assert spec is not None
    river = metrics.get(f"river_{spec.headline}", float("nan"))
    return {
        "rows": status["rows"],
        "train_s": round(seconds, 1),
        "load_s": round(metrics["load_seconds"], 1),
        "fit_s": round(metrics["train_seconds"], 1),
        "threads": settings.threads,
        spec.headline: round(metrics[spec.headline], 4),
        f"river_{spec.headline}": round(river, 4),
    }


def table(results: dict[str, Any]) -> str:
    cols = ("rows", "train_s", "fit_s", "predict_p99_ms", "noop_p99_ms", "p99_over_noop")
    lines = ["| domain | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for domain, row in results.get("batch", {}).items():
        lines.append(f"| {domain} | " + " | ".join(f"{row.get(c, '')}" for c in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    out = run_batch_bench()
    print(json.dumps(out, indent=2))
    print(table(out))
