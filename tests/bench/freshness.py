"""Freshness benchmark: how soon a live prediction reflects an acknowledged event.

Per domain and per rate (a steady 200 ev/s, and 80 % of the end-to-end learn rate measured by
the learn section), on a private Redis, with the real learn and predict functions:

- senders POST binary CloudEvents straight to ``learn-<domain>`` on an absolute schedule
  (``rate`` per second for ``COELHO_BENCH_FRESHNESS_SECONDS``, default 10 s, after 2 s of
  warm-up) and note when each 202 arrives;
- a prober POSTs a prediction to ``predict-<domain>`` every 5 ms and notes, per answer, when
  it arrived and the ``events_learned`` of the model that answered;
- afterwards the log (``XRANGE``, nothing is trimmed: retention is raised for the run) gives
  each CloudEvent id its 1-based place k in the log. Event k is in a model exactly when that
  model's ``events_learned >= k`` (a fresh domain: one lineage, counted from the first entry).

``p50_ms`` / ``p99_ms``: over the measured events, the time from the event's 202 to the first
answer of a model that has learned it (0 if one answered before the 202 arrived). An answer
counts when it is received, so a figure is high by at most one probe's round trip.
``writer_lag_p99_ms``: the writer's own lag, append -> applied, from its histogram
``coelho_writer_apply_lag_seconds`` (difference over the measured window, interpolated in
its buckets as Prometheus does). Also recorded: the achieved send rate, the prober's predict
latency under that load, and the 1-minute load average before and after (the host is shared).
Every loop is bounded by its count or a deadline.
"""

from __future__ import annotations

import bisect
import http.client
import itertools
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from coelho.domains import REGISTRY, get
from coelho.stack.config import function_argv
from coelho.stack.ports import free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.state.keys import Keys

REPO = Path(__file__).resolve().parents[2]
STATE_KEY = "coelho-bench-key"
STEADY_RATE = 200.0
WARMUP_SECONDS = 2.0
PROBE_SECONDS = 0.005
PER_SENDER = 250.0  # events/s one sequential keep-alive sender keeps up with comfortably
WAIT_SECONDS = 60.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def histogram(text: str, name: str, domain: str) -> dict[float, float]:
    """Cumulative bucket counts ``{le: count}`` of histogram ``name`` for ``domain``."""
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{name}_bucket" and sample.labels.get("domain") == domain:
                le = float(sample.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return buckets


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile`` of cumulative buckets (linear inside a bucket), in seconds."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for le in bounds:
        count = buckets[le]
        if count >= rank:
            if math.isinf(le):
                return lower
            return lower + (le - lower) * ((rank - below) / (count - below) if count > below else 1)
        lower, below = le, count
    return lower


def post(
    conn: http.client.HTTPConnection, body: bytes, headers: dict[str, str]
) -> tuple[int, bytes]:
    """POST on a keep-alive connection; reconnects once if the server closed it while idle
    (a resent CloudEvent is deduplicated by the learn function)."""
    for attempt in (0, 1):
        try:
            conn.request("POST", "/", body, headers)
            response = conn.getresponse()
            return response.status, response.read()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            conn.close()
            if attempt:
                raise
    raise AssertionError("unreachable")


class Sender:
    """One keep-alive connection POSTing binary CloudEvents; returns the 202's arrival time."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def send(self, event_id: str, body: bytes) -> float:
        headers = {"ce-specversion": "1.0", "ce-type": "dev.coelho.bench", "ce-source": "bench",
                   "ce-id": event_id, "Content-Type": "application/json"}  # fmt: skip
        status, _ = post(self.conn, body, headers)
        if status != 202:
            raise RuntimeError(f"learn answered {status} to {event_id}")
        return time.perf_counter()


class Prober(threading.Thread):
    """Predicts every ``PROBE_SECONDS``; keeps (arrival, events_learned, latency) per answer."""

    def __init__(self, port: int, body: bytes) -> None:
        super().__init__(name="prober", daemon=True)
        self.port, self.body = port, body
        self.answers: list[tuple[float, int, float]] = []
        self.refresh: set[str] = set()  # how the live model was kept current, per answer
        self.stop = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.wait(PROBE_SECONDS):
            started = time.perf_counter()
            status, raw = post(conn, self.body, {"Content-Type": "application/json"})
            arrived = time.perf_counter()
            if status == 200:
                model = json.loads(raw)["model"]
                self.refresh.add(str(model.get("refresh", "checkpoint")))
                self.answers.append((arrived, int(model["events_learned"]), arrived - started))
        conn.close()

    def learned(self) -> int:
        return self.answers[-1][1] if self.answers else 0


def _send(port: int, events: list[tuple[str, bytes]], rate: float) -> dict[str, float]:
    """Send ``events`` at ``rate`` (absolute schedule, over parallel senders); 202 times by id."""
    senders = max(1, math.ceil(rate / PER_SENDER))
    acks: dict[str, float] = {}
    errors: list[BaseException] = []
    start = time.perf_counter() + 0.05

    def work(index: int) -> None:
        sender = Sender(port)
        try:
            for i in range(index, len(events), senders):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                acks[events[i][0]] = sender.send(*events[i])
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(j,), daemon=True) for j in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(len(events) / rate + WAIT_SECONDS)
    if errors:
        raise RuntimeError(f"sending failed: {errors[0]!r}")
    return acks


def _wait(what: str, done: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        time.sleep(0.05)


def _places(client: redis.Redis, domain: str) -> dict[str, int]:
    """CloudEvent id -> its 1-based place in the domain's log."""
    places: dict[str, int] = {}
    start = "-"
    while True:
        chunk = client.xrange(Keys(domain).log, start, "+", count=10_000)
        for _entry_id, fields in chunk:
            places[fields[b"i"].decode()] = len(places) + 1
        if len(chunk) < 10_000:
            return places
        start = "(" + chunk[-1][0].decode()


def _metrics(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


class FreshnessRun:
    """One domain at one rate: fresh Redis state, fresh learn and predict functions."""

    def __init__(self, redis_url: str, logs: Path, domain: str, rate: float, seconds: float):
        self.client = redis.Redis.from_url(redis_url)
        self.env = {**os.environ, "COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": STATE_KEY,
                    "COELHO_LOG_RETENTION": "100000000", "PYTHONUNBUFFERED": "1"}  # fmt: skip
        self.logs, self.domain, self.rate, self.seconds = logs, domain, rate, seconds

    def _spawn(self, name: str, ready: str) -> tuple[Child, int]:
        port = free_port()
        child = Child(f"{name}-{int(self.rate)}", function_argv(REPO / "functions" / name /
                      "main.py", port), env=self.env, cwd=REPO,
                      log_path=self.logs / f"{name}-{int(self.rate)}.log").start()  # fmt: skip
        child.wait_ready(lambda: http_ok(f"http://127.0.0.1:{port}{ready}"), timeout=90,
                         what=f"GET {ready} 200")  # fmt: skip
        return child, port

    def run(self) -> dict[str, Any]:
        self.client.flushall()
        spec = get(self.domain)
        stream = spec.produce(seed=17)
        warm_n = int(self.rate * WARMUP_SECONDS)
        measured_n = int(self.rate * self.seconds)
        events = [(f"e{i}", json.dumps(e).encode())
                  for i, e in enumerate(itertools.islice(stream, warm_n + measured_n))]  # fmt: skip
        body = json.dumps(spec.validate_request(next(spec.produce(seed=5)))).encode()
        learn, learn_port = self._spawn(f"learn-{self.domain}", "/health/readiness")
        predict, predict_port = self._spawn(f"predict-{self.domain}", "/health/liveness")
        prober = Prober(predict_port, body)
        load = [round(os.getloadavg()[0], 2)]
        try:
            _send(learn_port, events[:warm_n], self.rate)
            prober.start()
            _wait("the warm-up events reached the predict function",
                  lambda: prober.learned() >= warm_n)  # fmt: skip
            time.sleep(0.5)  # the writer's metrics file is refreshed every 0.25 s
            before = histogram(_metrics(learn_port), "coelho_writer_apply_lag_seconds", self.domain)
            first_probe = len(prober.answers)
            sent_at = time.perf_counter()
            acks = _send(learn_port, events[warm_n:], self.rate)
            achieved = measured_n / (max(acks.values()) - sent_at)
            total = warm_n + measured_n
            _wait("every event reached the predict function", lambda: prober.learned() >= total)
            time.sleep(0.5)
            after = histogram(_metrics(learn_port), "coelho_writer_apply_lag_seconds", self.domain)
            replica = histogram(_metrics(predict_port), "coelho_live_freshness_seconds",
                                self.domain)  # fmt: skip
        finally:
            prober.stop.set()
            prober.join(10)
            predict.stop(timeout=10)
            learn.stop(timeout=10)
        load.append(round(os.getloadavg()[0], 2))
        places = _places(self.client, self.domain)
        answers = prober.answers[first_probe:]
        arrived = [a[0] for a in answers]
        reach = list(itertools.accumulate((a[1] for a in answers), max))
        delays = []
        for event_id, acked in acks.items():
            first = bisect.bisect_left(reach, places[event_id])  # reach never decreases
            delays.append(max(0.0, arrived[first] - acked) * 1000)
        lag = {le: after.get(le, 0.0) - before.get(le, 0.0) for le in after}
        writer_p99 = quantile(0.99, lag)
        latencies = [a[2] * 1000 for a in answers]
        row: dict[str, Any] = {
            "rate": round(self.rate, 1),
            "p50_ms": round(percentile(delays, 0.50), 1),
            "p99_ms": round(percentile(delays, 0.99), 1),
            "writer_lag_p99_ms": None if writer_p99 is None else round(writer_p99 * 1000, 1),
            "achieved_rate": round(achieved, 1),
            "events": measured_n,
            "predict_under_load_p99_ms": round(percentile(latencies, 0.99), 2),
            "load_1m": load,
            "refresh": sorted(prober.refresh),
        }
        server_p99 = quantile(0.99, replica)
        if server_p99 is not None:
            row["replica_freshness_p99_ms"] = round(server_p99 * 1000, 1)
        return row


def run_freshness_bench(e2e: dict[str, float], seconds: float | None = None) -> dict[str, Any]:
    """``{domain: {"rate": 200, "p50_ms", "p99_ms", "writer_lag_p99_ms", ..., "at_80pct_e2e":
    {same keys at 80 % of ``e2e[domain]``}}}``; the second run is skipped without an e2e rate."""
    import tempfile

    from coelho.stack.redis import RedisServer

    seconds = seconds or float(os.environ.get("COELHO_BENCH_FRESHNESS_SECONDS", "10"))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="coelho-bench-fresh-") as tmp:
        server = RedisServer(Path(tmp) / "redis").start()
        try:
            for domain in REGISTRY:
                rates = [STEADY_RATE] + ([0.8 * e2e[domain]] if domain in e2e else [])
                rows = []
                for rate in rates:
                    print(f"freshness {domain}: {rate:.0f} ev/s for {seconds:g} s",
                          file=sys.stderr, flush=True)  # fmt: skip
                    rows.append(FreshnessRun(server.url, Path(tmp) / "logs", domain, rate,
                                             seconds).run())  # fmt: skip
                    print(f"  {domain}: {rows[-1]}", file=sys.stderr, flush=True)
                results[domain] = rows[0]
                if len(rows) > 1:
                    results[domain]["at_80pct_e2e"] = rows[1]
        finally:
            server.stop()
    return results


if __name__ == "__main__":
    print(json.dumps(run_freshness_bench({}), indent=2))
