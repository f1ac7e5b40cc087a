"""Learn-path benchmark: learned events/s end to end against the transport floor.

Per domain, in one run and on the same pre-produced Kafka records:

- ``e2e_eps``: KafkaSource → Broker → Trigger → learn function → log → writer, counted as
  events learned (``events_learned`` in Redis);
- ``floor_eps``: the same emulator path delivering to a no-op function served exactly like the
  learn functions (same launcher, same environment);
- ``ff_default_eps``: the same path delivering to a plain ``functions-framework`` no-op with the
  framework's default settings (only the host is pinned to loopback), so that the floor cannot
  be lowered to flatter the ratio;
- ``inprocess_eps``: River prequential learning of the same events in this process;
- ``durable_floor_eps`` (diagnostic, not in the ratio): the no-op plus one Redis round trip
  before its 202, i.e. the floor of any design that acknowledges only after a durable write.

Rates are steady-state: the time between 10 % and 90 % of the records being counted, so
consumer-group joins, the writer process's start and the final checkpoint do not dominate
short runs. The writer publishes ``events_learned`` every 0.1 s, which bounds the error of
each end of that window. Each transport measurement is repeated (interleaved) and the
median kept.
"""

from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from coelho.domains import REGISTRY
from coelho.eventing.emulator import Emulator
from coelho.learning import OnlineModel
from coelho.producer import run as produce
from coelho.stack.config import function_argv
from coelho.stack.kafka import KafkaServer, ensure_topics, fetch_jars
from coelho.stack.ports import free_port
from coelho.stack.probes import accepts, http_ok
from coelho.stack.processes import Child
from coelho.stack.redis import RedisServer
from coelho.state import Keys
from tests.helpers import rewrite_manifests

REPO = Path(__file__).resolve().parents[2]
START = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
NOOP = Path(__file__).parent / "noop" / "main.py"
NOOP_REDIS = Path(__file__).parent / "noop_redis" / "main.py"
STATE_KEY = "coelho-bench-key"


def _serve(source: Path, env: dict[str, str], logs: Path, name: str) -> tuple[Child, str]:
    """Serve ``source`` like the stack does; ready = its readiness probe, or a listening port."""
    port = free_port()
    child = Child(name, function_argv(source, port), env=env, cwd=REPO,
                  log_path=logs / f"{name}.log").start()  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    if source in (NOOP, NOOP_REDIS):
        child.wait_ready(lambda: accepts(port), timeout=60, what="listening")
    else:
        child.wait_ready(lambda: http_ok(f"{url}/health/readiness"), timeout=60, what="ready")
    return child, url


def _rate(count: Callable[[], int], n: int, timeout: float) -> float:
    """Events/s between 10 % and 90 % of ``n`` counted."""
    low, high = int(n * 0.1), int(n * 0.9)
    t_low = t_high = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = count()
        now = time.monotonic()
        if t_low is None and seen >= low:
            t_low = now
        if seen >= high:
            t_high = now
            break
        time.sleep(0.01)
    if t_low is None or t_high is None or t_high <= t_low:
        raise TimeoutError(f"only {count()} of {n} events counted within {timeout} s")
    return (high - low) / (t_high - t_low)


def _inprocess(domain: str, events: list[dict[str, Any]]) -> float:
    model = OnlineModel.create(domain)
    started = time.perf_counter()
    for event in events:
        model.learn(event)
    return len(events) / (time.perf_counter() - started)


class LearnBench:
    def __init__(self, workdir: Path, n: int, repeats: int) -> None:
        self.workdir = workdir
        self.n = n
        self.repeats = repeats
        self.logs = workdir / "logs"
        self.runs = 0

    def _emulate(self, domain: str, target: str, counter: Callable[[Emulator], int]) -> float:
        self.runs += 1
        manifests = rewrite_manifests(
            self.workdir / f"m{self.runs}", group_suffix=f"bench-{self.runs}", only_sources={domain}
        )
        services = {f"learn-{d}": target for d in REGISTRY} | {"dead-letters": target}
        emulator = Emulator(manifests, self.bootstrap, services).start()
        try:
            return _rate(lambda: counter(emulator), self.n, timeout=600)
        finally:
            emulator.stop()

    def run(self) -> dict[str, dict[str, float]]:
        kafka_dir, redis_dir = self.workdir / "kafka", self.workdir / "redis"
        libs = fetch_jars(REPO / ".coelho" / "kafka" / "libs")
        with KafkaServer(kafka_dir, libs_dir=libs) as kafka, RedisServer(redis_dir) as rds:
            self.bootstrap = kafka.bootstrap
            ensure_topics(kafka.bootstrap, [d.topic for d in REGISTRY.values()])
            client = redis.Redis.from_url(rds.url)
            env = {**os.environ, "COELHO_REDIS_URL": rds.url, "COELHO_STATE_KEY": STATE_KEY,
                   "TMPDIR": str(self.workdir)}  # fmt: skip
            plain = {**env}
            for var in ("WORKERS", "THREADS"):
                plain.pop(var, None)
            results: dict[str, dict[str, float]] = {}
            for key, spec in REGISTRY.items():
                events = list(itertools.islice(spec.produce(seed=42, start=START), self.n))
                produce(key, kafka.bootstrap, count=self.n, seed=42, rate=0, start=START)
                floor_child, floor_url = _serve(NOOP, env, self.logs, f"floor-{key}")
                plain_child, plain_url = _serve(NOOP, plain, self.logs, f"ffdefault-{key}")
                durable_child, durable_url = _serve(NOOP_REDIS, env, self.logs, f"durable-{key}")
                floor, default, durable, e2e = [], [], [], []
                try:
                    for _ in range(self.repeats):
                        delivered = _delivered(key)
                        floor.append(self._emulate(key, floor_url, delivered))
                        default.append(self._emulate(key, plain_url, delivered))
                        durable.append(self._emulate(key, durable_url, delivered))
                        client.flushall()
                        learn, learn_url = _serve(REPO / "functions" / f"learn-{key}" / "main.py",
                                                  env, self.logs, f"learn-{key}")  # fmt: skip
                        try:
                            e2e.append(self._emulate(
                                key, learn_url,
                                lambda _e, k=key: _learned(client, k),
                            ))  # fmt: skip
                        finally:
                            learn.stop()
                finally:
                    floor_child.stop()
                    plain_child.stop()
                    durable_child.stop()
                inproc = statistics.median(_inprocess(key, events) for _ in range(self.repeats))
                row = {
                    "e2e_eps": statistics.median(e2e),
                    "floor_eps": statistics.median(floor),
                    "ff_default_eps": statistics.median(default),
                    "inprocess_eps": inproc,
                }
                row["ratio"] = row["e2e_eps"] / min(row["floor_eps"], row["inprocess_eps"])
                row["durable_floor_eps"] = statistics.median(durable)
                results[key] = {k: round(v, 3 if k == "ratio" else 1) for k, v in row.items()}
                print(f"  {key}: {results[key]}", file=sys.stderr, flush=True)
            return results


def _learned(client: redis.Redis, domain: str) -> int:
    """Events the writer published as learned: one HGET, so polling costs the path little."""
    return int(client.hget(Keys(domain).stats, "events_learned") or 0)


def _delivered(domain: str) -> Callable[[Emulator], int]:
    def count(emulator: Emulator) -> int:
        triggers = emulator.stats()["triggers"].values()
        return sum(t["delivered"] for t in triggers)

    return count


def run_learn_bench(n: int = 4000, repeats: int = 3) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="coelho-bench-") as tmp:
        return LearnBench(Path(tmp), n, repeats).run()
