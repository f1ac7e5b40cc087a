"""The emulator's small HTTP control/status endpoint (stdlib server, loopback only).

GET /health -> 200 ``{"ok": true}``; GET /status -> ``Emulator.stats()``; GET /metrics -> the same
counters in Prometheus text format; POST /sources/<name>/pause and /sources/<name>/resume -> the
source's new status. Errors are ``{"error": <kind>, "message": <text>}`` with 404.

Knative's data-plane endpoints, at the paths Knative uses: POST /<namespace>/<broker> is the
Broker's ingress (a CloudEvent in binary or structured mode -> 202, as kafka-broker-ingress;
400 if it is not one); POST /jobsinks/<namespace>/<name> is the job-sink of a JobSink, and
GET /jobsinks/namespaces/<ns>/name/<name>/sources/<source>/ids/<id> its job's status
(coelho.eventing.jobsink).
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from coelho.eventing.cloudevent import Event, from_http
from coelho.eventing.stats import FIELDS

if TYPE_CHECKING:
    from coelho.eventing.emulator import Emulator

log = logging.getLogger(__name__)


def render_metrics(stats: dict[str, Any]) -> str:
    """Prometheus text exposition of ``Emulator.stats()`` (counters, lag and paused gauges)."""
    lines = ["# TYPE coelho_eventing_source_events_total counter"]
    for name, info in sorted(stats["sources"].items()):
        for outcome in FIELDS:
            lines.append(
                f'coelho_eventing_source_events_total{{source="{name}",outcome="{outcome}"}} '
                f"{info[outcome]}"
            )
    lines.append("# TYPE coelho_eventing_trigger_events_total counter")
    for name, counts in sorted(stats["triggers"].items()):
        for outcome in FIELDS:
            lines.append(
                f'coelho_eventing_trigger_events_total{{trigger="{name}",outcome="{outcome}"}} '
                f"{counts[outcome]}"
            )
    lines += ["# TYPE coelho_eventing_source_paused gauge", "# TYPE coelho_eventing_lag gauge"]
    for name, info in sorted(stats["sources"].items()):
        lines.append(f'coelho_eventing_source_paused{{source="{name}"}} {int(info["paused"])}')
        for partition, lag in sorted(info["lag"].items()):
            if lag is not None:
                lines.append(
                    f'coelho_eventing_lag{{source="{name}",partition="{partition}"}} {lag}'
                )
    return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server: ControlServer
    protocol_version = "HTTP/1.1"

    def _reply(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        body = (payload if isinstance(payload, str) else json.dumps(payload, indent=1)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) == 9 and parts[0] == "jobsinks":
            sink = self.server.emulator.job_sink(parts[2], parts[4])
            if sink is None:
                self._reply(404, {"error": "UnknownJobSink", "message": self.path})
                return
            status, reason = sink.status(parts[6], parts[8])
            self._reply(status, {"reason": reason})
            return
        if self.path == "/health":
            self._reply(200, {"ok": True})
        elif self.path == "/status":
            self._reply(200, self.server.emulator.stats())
        elif self.path == "/metrics":
            text = render_metrics(self.server.emulator.stats())
            self._reply(200, text, "text/plain; version=0.0.4; charset=utf-8")
        else:
            self._reply(404, {"error": "NoRoute", "message": f"no route GET {self.path}"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = urlsplit(self.path).path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "jobsinks":
            self._job_sink(parts[1], parts[2], body)
        elif len(parts) == 2:
            self._ingress(parts[0], parts[1], body)
        elif len(parts) == 3 and parts[0] == "sources" and parts[2] in ("pause", "resume"):
            emulator = self.server.emulator
            try:
                emulator.pause(parts[1]) if parts[2] == "pause" else emulator.resume(parts[1])
            except KeyError as exc:
                self._reply(404, {"error": "UnknownSource", "message": str(exc.args[0])})
                return
            self._reply(200, emulator.stats()["sources"][emulator.source_key(parts[1])])
        else:
            self._reply(404, {"error": "NoRoute", "message": f"no route POST {self.path}"})

    def _event(self, body: bytes) -> Event | None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        event = from_http(headers, body)
        if event is None:
            self._reply(
                400,
                {
                    "error": "NotACloudEvent",
                    "message": "not a CloudEvent (binary or structured mode)",
                },
            )
        return event

    def _ingress(self, namespace: str, name: str, body: bytes) -> None:
        """A Broker's ingress: accept the event (202) and route it to the matching Triggers."""
        broker = self.server.emulator.broker(namespace, name)
        if broker is None:
            self._reply(404, {"error": "UnknownBroker", "message": f"no Broker {namespace}/{name}"})
            return
        event = self._event(body)
        if event is not None:
            broker.publish(event)
            self._reply(202, "", "text/plain")

    def _job_sink(self, namespace: str, name: str, body: bytes) -> None:
        sink = self.server.emulator.job_sink(namespace, name)
        if sink is None:  # job-sink answers 400 for a JobSink it does not know
            self._reply(
                400, {"error": "UnknownJobSink", "message": f"no JobSink {namespace}/{name}"}
            )
            return
        event = self._event(body)
        if event is None:
            return
        status, location = sink.receive(event)
        self.send_response(status)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("control: " + format, *args)


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, emulator: Emulator, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.emulator = emulator
        self._thread = threading.Thread(
            target=self.serve_forever, args=(0.1,), name="eventing-control", daemon=True
        )

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
