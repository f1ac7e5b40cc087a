"""Synthetic producers: a domain's generator written to its Kafka topic, as a service.

``python -m coelho.producer tfd --bootstrap 127.0.0.1:9092 [--count N] [--rate R]
[--metrics-port P] [--fraud-probability 0.05] ...``. Pace: ``--rate R`` sends R events/s
(0: as fast as Kafka acknowledges); without it a bounded run (``--count``) is unthrottled and
an endless one keeps the seed producer's pace, which is what ``coelho up`` and the cluster's
Deployments run. The generator's knobs (``--fraud-probability``, ``--incident-probability``,
...) are declared by each domain module (``Domain.generator_options``). Kafka is retried
``--connect-retries`` times before giving up; ``/health/readiness`` turns 200 once the
topic's metadata arrived. ``--start``/``--time-scale`` stamp events from a synthetic clock.
Records are keyed by the domain's ``record_key`` and carry ``content-type:
application/json``, which KafkaSource turns into the CloudEvent's ``datacontenttype``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from coelho.domains import REGISTRY, get
from coelho.errors import KafkaUnavailable
from coelho.producer_metrics import ProducerMetrics
from coelho.producer_options import (
    Progress,
    add_generator_options,
    chosen_options,
    pace,
    progress_bar,
)

log = logging.getLogger(__name__)
HEADERS = [("content-type", b"application/json")]
GAUGE_EVERY = 100  # events between refreshes of the domain's gauges (the seed's cadence)


def connect(
    bootstrap: str,
    topic: str,
    client_id: str,
    metrics: ProducerMetrics,
    *,
    retries: int = 30,
    interval: float = 2.0,
    timeout: float = 10.0,
    stop: threading.Event | None = None,
) -> Any:
    """A KafkaProducer that has seen ``topic``'s partitions, after up to ``retries`` retries
    of ``timeout`` seconds each (the seed: 30 retries; here 2 s apart instead of 10)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    stop = stop or threading.Event()
    for attempt in range(retries + 1):
        producer = None
        try:
            wait_ms = int(timeout * 1000)
            producer = KafkaProducer(
                bootstrap_servers=bootstrap, client_id=client_id, acks="all", linger_ms=5,
                bootstrap_timeout_ms=wait_ms, max_block_ms=wait_ms,
            )  # fmt: skip
            producer.partitions_for(topic)  # readiness: metadata (auto-creates when allowed)
            metrics.set_connected(True)
            return producer
        except KafkaError as exc:
            if producer is not None:
                producer.close(timeout=1)
            metrics.retries.inc()
            if attempt == retries or stop.wait(interval):
                why = "stopped while waiting for" if stop.is_set() else "unreachable"
                raise KafkaUnavailable(
                    f"--bootstrap {bootstrap}: Kafka {why} topic {topic!r} after "
                    f"{attempt + 1} attempts ({type(exc).__name__}: {exc})"
                ) from exc
            log.warning("kafka %s not ready (%s), retry %d/%d in %.0f s",
                        bootstrap, type(exc).__name__, attempt + 1, retries, interval)  # fmt: skip
    raise AssertionError("unreachable")


def run(
    domain: str,
    bootstrap: str,
    *,
    count: int | None = None,
    seed: int | None = None,
    rate: float | None = None,
    drift_after: int | None = None,
    stop: threading.Event | None = None,
    start: datetime | None = None,
    topic: str | None = None,
    time_scale: float | None = None,
    options: Mapping[str, float] | None = None,
    metrics: ProducerMetrics | None = None,
    progress: Progress | None = None,
    connect_retries: int = 30,
    retry_interval: float = 2.0,
) -> int:
    """Send ``count`` events (forever when None); return how many Kafka acknowledged.

    ``rate``: events/s, 0 unthrottled, None the seed's pace. ``start`` gives the events a
    reproducible synthetic clock; ``topic`` overrides the domain's topic (tests and benchmarks
    use private topics); ``options`` set the domain's generator options."""
    spec = get(domain)
    topic = topic or spec.topic
    stop = stop or threading.Event()
    metrics = metrics or ProducerMetrics(spec, topic)
    metrics.target_rate.set(float("nan") if rate is None else rate)
    generator = spec.generate(seed, drift_after, start, time_scale, options)
    producer = connect(bootstrap, topic, f"{spec.topic}_client", metrics,
                       retries=connect_retries, interval=retry_interval, stop=stop)  # fmt: skip
    acked = [0]

    def on_ack(started: float, size: int) -> Callable[[Any], None]:
        def done(_: Any) -> None:
            acked[0] += 1  # the client's single I/O thread runs every callback
            metrics.acknowledged(started, size)

        return done

    sent = 0
    began = time.monotonic()
    try:
        while (count is None or sent < count) and not stop.is_set():
            event = generator.next_event()
            value = json.dumps(event, separators=(",", ":")).encode()
            if not _send(producer, topic, value, str(event[spec.record_key]), metrics,
                         on_ack, stop):  # fmt: skip
                break
            sent += 1
            if sent % GAUGE_EVERY == 0:
                metrics.observe_generator(generator)
                if progress is not None:
                    progress(acked[0])
            if rate is None:
                stop.wait(generator.next_interval())
            elif rate > 0:  # on a schedule: time spent sending does not lower the rate
                stop.wait(max(0.0, began + sent / rate - time.monotonic()))
    finally:
        producer.flush()
        producer.close()
        metrics.observe_generator(generator)
        metrics.set_connected(False)
    if progress is not None:
        progress(acked[0])
    return acked[0]


def _send(
    producer: Any,
    topic: str,
    value: bytes,
    key: str,
    metrics: ProducerMetrics,
    on_ack: Callable[[float, int], Callable[[Any], None]],
    stop: threading.Event,
) -> bool:
    """Hand one record to the client, retrying while its buffer is full; False once stopped."""
    from kafka.errors import KafkaError

    while not stop.is_set():
        started = time.monotonic()
        try:
            future = producer.send(topic, value=value, key=key.encode(), headers=HEADERS)
        except KafkaError as exc:  # buffer full or metadata gone for max_block_ms
            metrics.error(exc)
            metrics.set_connected(False)  # back to 1 with the next acknowledgement
            log.warning("send to %s failed (%s), retrying", topic, type(exc).__name__)
            stop.wait(1.0)
            continue
        future.add_callback(on_ack(started, len(value)))
        future.add_errback(metrics.error)
        return True
    return False


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m coelho.producer",
                                description=__doc__.splitlines()[0])  # fmt: skip
    p.add_argument("domain", choices=sorted(REGISTRY))
    p.add_argument("--bootstrap", required=True, help="Kafka bootstrap host:port")
    p.add_argument("--count", type=int, default=None, help="events to send (default: endless)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--rate", type=float, default=None,
                   help="events/s; 0: unthrottled (default: unthrottled with --count, "
                   "else the seed's pace)")  # fmt: skip
    p.add_argument("--drift-after", type=int, default=None)
    p.add_argument("--start", type=datetime.fromisoformat, default=None)
    p.add_argument("--time-scale", type=float, default=None)
    p.add_argument("--topic", default=None, help="instead of the domain's topic")
    p.add_argument("--metrics-port", type=int, default=None,
                   help="serve /metrics and /health/* on this port (0: any free one)")  # fmt: skip
    p.add_argument("--metrics-host", default="127.0.0.1",
                   help="address of the metrics server (a pod: 0.0.0.0)")  # fmt: skip
    p.add_argument("--connect-retries", type=int, default=30)
    p.add_argument("--retry-interval", type=float, default=2.0, help="seconds between retries")
    p.add_argument("--progress", action="store_true", help="a progress bar on stderr")
    add_generator_options(p)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        options = chosen_options(args, args.domain)
        rate = pace(args.count, args.rate)
    except ValueError as exc:
        p.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s producer %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    spec = get(args.domain)
    metrics = ProducerMetrics(spec, args.topic or spec.topic)
    server = None
    if args.metrics_port is not None:
        server = metrics.serve(args.metrics_port, args.metrics_host)
        log.info("%s: metrics on http://%s:%d/metrics", args.domain, args.metrics_host,
                 server.port)  # fmt: skip
    started = time.monotonic()
    bar = progress_bar(args.count) if args.progress and args.count else None
    try:
        sent = run(args.domain, args.bootstrap, count=args.count, seed=args.seed, rate=rate,
                   drift_after=args.drift_after, stop=stop, start=args.start,
                   time_scale=args.time_scale, topic=args.topic, options=options,
                   metrics=metrics, progress=bar,
                   connect_retries=args.connect_retries,
                   retry_interval=args.retry_interval)  # fmt: skip
    except KeyboardInterrupt:
        stop.set()
        return 130
    except KafkaUnavailable as exc:
        log.error("%s", exc)
        return 1
    finally:
        if server is not None:
            server.close()
    log.info("%s: %d events in %.1f s", args.domain, sent, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
