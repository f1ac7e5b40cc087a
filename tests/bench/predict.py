"""Predict benchmark: latency against a no-op function in the same run, and cold start.

Per domain, with a model that learned ``COELHO_BENCH_PREDICT_EVENTS`` (default 2,000) events
saved as the domain's checkpoint in a private Redis:

- ``p50_ms`` / ``p99_ms``: client-side latency of ``POST /`` to ``predict-<domain>`` from one
  keep-alive HTTP/1.1 client, sequentially, ``COELHO_BENCH_PREDICT_REQUESTS`` (default 5,000)
  requests after 200 warm-up requests (with 2,000 the p99 was the 20th-slowest request, and
  one host hiccup moved it by 30 %);
- ``noop_p99_ms``: the same client, body and count against a functions-framework no-op
  (``tests/bench/noop``) served the same way, measured interleaved with the predict requests
  in blocks of 250, so both see the same machine load;
- ``cold_start_ms``: spawn of the predict process -> first 200 answer to a predict request
  (the model loaded and used), median of 5 spawns; ``cold_start_noop_ms`` is the same for the
  no-op function (the floor of the launcher on this machine at that moment).

Targets (issue #3): p99 <= 1.5 x no-op p99; cold start <= 1,500 ms. Everything runs on
127.0.0.1; every loop is bounded by its request count.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from coelho.domains import REGISTRY, get
from coelho.learning import OnlineModel
from coelho.stack.config import function_argv
from coelho.stack.ports import free_port
from coelho.stack.probes import accepts, http_ok
from coelho.stack.processes import Child
from coelho.stack.redis import RedisServer
from coelho.state.checkpoint import CheckpointStore
from coelho.state.keys import Keys

REPO = Path(__file__).resolve().parents[2]
NOOP = Path(__file__).parent / "noop" / "main.py"
STATE_KEY = "coelho-bench-key"
WARMUP = 200
BLOCK = 250
COLD_RUNS = 5


def _env(redis_url: str) -> dict[str, str]:
    return {**os.environ, "COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": STATE_KEY,
            "PYTHONUNBUFFERED": "1"}  # fmt: skip


def _save(client: redis.Redis, domain: str, events: int) -> None:
    model = OnlineModel.create(domain)
    stream = get(domain).produce(seed=11)
    for offset in range(events):
        model.learn(next(stream), (get(domain).topic, 0, offset))
    token = secrets.token_hex(8)
    client.set(Keys(domain).lease, token, px=60_000)
    CheckpointStore(client, domain, STATE_KEY.encode()).save(model, "0-0", events, token)
    client.delete(Keys(domain).lease)


def _spawn(source: Path, env: dict[str, str], logs: Path, name: str) -> tuple[Child, int]:
    port = free_port()
    child = Child(name, function_argv(source, port), env=env, cwd=REPO,
                  log_path=logs / f"{name}.log").start()  # fmt: skip
    return child, port


class Client:
    """One keep-alive connection; ``post`` returns (status, seconds)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, body: bytes) -> tuple[int, float]:
        """One request; once, on a keep-alive connection the server closed while it sat idle
        (gunicorn's 2 s keep-alive, reached on a busy host), it reconnects and sends again."""
        for attempt in (0, 1):
            started = time.perf_counter()
            try:
                self.conn.request("POST", "/", body, {"Content-Type": "application/json"})
                response = self.conn.getresponse()
                response.read()
                return response.status, time.perf_counter() - started
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latency(predict_port: int, noop_port: int, body: bytes, requests: int) -> dict[str, float]:
    predict, noop = Client(predict_port), Client(noop_port)
    try:
        for _ in range(WARMUP):
            predict.post(body)
            noop.post(body)
        timings: dict[str, list[float]] = {"predict": [], "noop": []}
        while len(timings["predict"]) < requests:
            n = min(BLOCK, requests - len(timings["predict"]))
            for name, client in (("predict", predict), ("noop", noop)):
                for _ in range(n):
                    status, seconds = client.post(body)
                    if name == "predict" and status != 200:
                        raise RuntimeError(f"predict answered {status}")
                    timings[name].append(seconds)
    finally:
        predict.close()
        noop.close()
    ms = {k: [v * 1000 for v in values] for k, values in timings.items()}
    return {
        "p50_ms": round(_percentile(ms["predict"], 0.50), 3),
        "p99_ms": round(_percentile(ms["predict"], 0.99), 3),
        "noop_p50_ms": round(_percentile(ms["noop"], 0.50), 3),
        "noop_p99_ms": round(_percentile(ms["noop"], 0.99), 3),
    }


def _cold_start(source: Path, env: dict[str, str], logs: Path, body: bytes) -> list[float]:
    """Spawn -> first 2xx to a POST of ``body``, ``COLD_RUNS`` times, in ms."""
    runs = []
    name = source.parent.name
    for _ in range(COLD_RUNS):
        port = free_port()
        started = time.perf_counter()
        child = Child(f"cold-{name}", function_argv(source, port), env=env, cwd=REPO,
                      log_path=logs / f"cold-{name}.log").start()  # fmt: skip
        try:
            deadline = started + 60
            while True:
                try:
                    if Client(port).post(body)[0] in (200, 202):
                        break
                except OSError:
                    pass
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{name}: no answer within 60 s; see {logs}")
                time.sleep(0.005)
            runs.append(round((time.perf_counter() - started) * 1000, 1))
        finally:
            child.stop(timeout=10)
    return runs


def run_predict_bench() -> dict[str, Any]:
    """``{"predict": {domain: {...}}, "cold_start_ms": {domain: ms}}`` (see module doc)."""
    events = int(os.environ.get("COELHO_BENCH_PREDICT_EVENTS", "2000"))
    requests = int(os.environ.get("COELHO_BENCH_PREDICT_REQUESTS", "5000"))
    predict: dict[str, dict[str, float]] = {}
    cold: dict[str, float] = {}
    cold_runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="coelho-bench-predict-") as tmp:
        logs = Path(tmp) / "logs"
        server = RedisServer(Path(tmp) / "redis").start()
        children: list[Child] = []
        try:
            client = redis.Redis.from_url(server.url)
            env = _env(server.url)
            noop, noop_port = _spawn(NOOP, env, logs, "noop")
            children.append(noop)
            noop.wait_ready(lambda: accepts(noop_port), timeout=60, what="listening")
            for domain in REGISTRY:
                print(f"predict {domain}: {events} events, {requests} requests", file=sys.stderr)
                _save(client, domain, events)
                body = json.dumps(get(domain).validate_request(
                    next(get(domain).produce(seed=5)))).encode()  # fmt: skip
                source = REPO / "functions" / f"predict-{domain}" / "main.py"
                child, port = _spawn(source, env, logs, f"predict-{domain}")
                children.append(child)
                child.wait_ready(lambda p=port: http_ok(f"http://127.0.0.1:{p}/health/readiness"),
                                 timeout=60, what="ready")  # fmt: skip
                predict[domain] = _latency(port, noop_port, body, requests)
                child.stop(timeout=10)
                cold_runs[domain] = _cold_start(source, env, logs, body)
                cold[domain] = statistics.median(cold_runs[domain])
            noop_cold = _cold_start(NOOP, env, logs, b"{}")
        finally:
            for child in children:
                child.stop(timeout=10)
            server.stop()
    for domain, row in predict.items():
        row["p99_over_noop"] = round(row["p99_ms"] / row["noop_p99_ms"], 2)
        row["cold_start_runs_ms"] = cold_runs[domain]  # type: ignore[assignment]
    # The floor on this machine at this moment: a no-op function's cold start, same launcher.
    return {"predict": predict, "cold_start_ms": cold,
            "cold_start_noop_ms": statistics.median(noop_cold)}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run_predict_bench(), indent=2))
