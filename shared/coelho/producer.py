"""Synthetic producers: a domain's generator written to its Kafka topic.

``python -m coelho.producer tfd --bootstrap 127.0.0.1:9092 [--count N] [--seed S] [--rate R]
[--drift-after K] [--start ISO] [--time-scale X]``. Without ``--rate`` events are paced like
the seed's producer; with it, at a constant rate; ``--rate 0`` sends as fast as Kafka accepts.
``--start``/``--time-scale`` stamp events from a synthetic clock (``Domain.generate``), so a
stack can meet a weekend or a rush hour on demand instead of waiting for one. Records are
keyed by the domain's ``record_key`` and carry ``content-type: application/json``, which
KafkaSource turns into the CloudEvent's ``datacontenttype``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from datetime import datetime

from coelho.domains import REGISTRY, get

log = logging.getLogger(__name__)
HEADERS = [("content-type", b"application/json")]


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
) -> int:
    """Send ``count`` events (forever when None) and return how many were sent.

    ``start`` gives the events a reproducible synthetic clock; ``topic`` overrides the domain's
    topic (tests and benchmarks use private topics)."""
    from kafka import KafkaProducer

    spec = get(domain)
    stop = stop or threading.Event()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=f"{spec.topic}_client",
        acks="all",
        linger_ms=5,
        key_serializer=str.encode,
        value_serializer=lambda v: json.dumps(v, separators=(",", ":")).encode(),
    )
    generator = spec.generate(seed, drift_after, start, time_scale)
    sent = 0
    began = time.monotonic()
    try:
        while (count is None or sent < count) and not stop.is_set():
            event = generator.next_event()
            producer.send(
                topic or spec.topic, value=event, key=event[spec.record_key], headers=HEADERS
            )
            sent += 1
            if rate is None:
                stop.wait(generator.next_interval())
            elif rate > 0:  # on a schedule: time spent sending does not lower the rate
                stop.wait(max(0.0, began + sent / rate - time.monotonic()))
    finally:
        producer.flush()
        producer.close()
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m coelho.producer", description=__doc__)
    parser.add_argument("domain", choices=sorted(REGISTRY))
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap host:port")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rate", type=float, default=None, help="events/s (0 = unthrottled)")
    parser.add_argument("--drift-after", type=int, default=None)
    parser.add_argument("--start", type=datetime.fromisoformat, default=None)
    parser.add_argument("--time-scale", type=float, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s producer %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    started = time.monotonic()
    try:
        sent = run(args.domain, args.bootstrap, count=args.count, seed=args.seed,
                   rate=args.rate, drift_after=args.drift_after, stop=stop, start=args.start,
                   time_scale=args.time_scale)  # fmt: skip
    except KeyboardInterrupt:
        stop.set()
        return 130
    log.info("%s: %d events in %.1f s", args.domain, sent, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
