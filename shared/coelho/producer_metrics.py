"""What a producer tells Prometheus, and the small HTTP server it tells it through.

A silent producer otherwise looks exactly like a stalled learner. Each producer process owns
one ``ProducerMetrics`` (its own registry, so tests can run several in one process) and, with
``--metrics-port``, serves ``/metrics``, ``/health/liveness`` and ``/health/readiness`` (200
once Kafka answered for the topic, 503 before). Names are the contract of the producer alerts
and the Grafana "Producers" dashboard; the per-domain gauges come from the domain module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app

from coelho.domains import Domain

# Broker acknowledgement (acks=all) of one record: ~1 ms on loopback, more under load.
SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SIZE_BUCKETS = (128, 256, 512, 768, 1024, 1536, 2048, 4096, 8192)


class ProducerMetrics:
    """The producer's metric families for one domain, in a registry of their own."""

    def __init__(self, domain: Domain, topic: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = {"domain": domain.key, "topic": topic}
        r = self.registry
        self.sent = Counter("coelho_producer_messages_sent", "Records acknowledged by Kafka",
                            ["domain", "topic"], registry=r).labels(**labels)  # fmt: skip
        self._errors = Counter(
            "coelho_producer_errors", "Records Kafka did not take, by exception type",
            ["domain", "topic", "error_type"], registry=r,
        )  # fmt: skip
        self.send_seconds = Histogram(
            "coelho_producer_send_seconds", "Send -> broker acknowledgement of one record",
            ["domain", "topic"], buckets=SEND_BUCKETS, registry=r,
        ).labels(**labels)  # fmt: skip
        self.message_bytes = Histogram(
            "coelho_producer_message_bytes", "Serialized record value size",
            ["domain", "topic"], buckets=SIZE_BUCKETS, registry=r,
        ).labels(**labels)  # fmt: skip
        self.connected = Gauge("coelho_producer_connected",
                               "1 while Kafka answers (0 before it did, or after a failed send)",
                               ["domain"], registry=r).labels(domain.key)  # fmt: skip
        self.retries = Counter("coelho_producer_connection_retries",
                               "Failed attempts to reach Kafka", ["domain"],
                               registry=r).labels(domain.key)  # fmt: skip
        self.last_sent = Gauge(
            "coelho_producer_last_sent_timestamp_seconds",
            "Unix time of the last acknowledged record", ["domain"], registry=r,
        ).labels(domain.key)  # fmt: skip
        self.target_rate = Gauge(
            "coelho_producer_target_rate", "Events/s asked for (0: unthrottled, NaN: seed pace)",
            ["domain"], registry=r,
        ).labels(domain.key)  # fmt: skip
        self._labels = labels
        self._gauges = [
            (Gauge(f"coelho_producer_{g.name}", g.help, ["domain"], registry=r).labels(domain.key),
             g.read)
            for g in domain.producer_gauges
        ]  # fmt: skip
        self.is_connected = False

    def set_connected(self, up: bool) -> None:
        self.is_connected = up
        self.connected.set(1 if up else 0)

    def error(self, exc: BaseException) -> None:
        self._errors.labels(**self._labels, error_type=type(exc).__name__).inc()

    def acknowledged(self, started: float, size: int) -> None:
        """Called from the Kafka client's I/O thread when the broker took a record."""
        self.send_seconds.observe(time.monotonic() - started)
        self.message_bytes.observe(size)
        self.sent.inc()
        self.last_sent.set(time.time())
        if not self.is_connected:
            self.set_connected(True)

    def observe_generator(self, generator: Any) -> None:
        """Refresh the domain's gauges (fraud ratio, active sessions, ...) from the generator."""
        for gauge, read in self._gauges:
            gauge.set(read(generator))

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        return MetricsServer(self, host, port).start()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        """Scrapes every few seconds would drown the producer's own log."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class MetricsServer:
    """``/metrics`` plus the two health endpoints Kubernetes and ``coelho up`` probe."""

    def __init__(self, metrics: ProducerMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._server = make_server(host, port, self._app, _ThreadingServer, handler_class=_Quiet)
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="producer-metrics", daemon=True
        )

    def _app(self, environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/health/liveness":
            status = "200 OK"
        elif path == "/health/readiness":
            status = "200 OK" if self.metrics.is_connected else "503 Service Unavailable"
        else:
            return self._metrics_app(environ, start)  # type: ignore[no-any-return]
        start(status, [("Content-Type", "text/plain")])
        return [status.encode()]

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
