"""``python -m coelho.eventing`` as the stack runs it: serve, deliver, stop cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from kafka import KafkaProducer

from coelho.eventing.__main__ import main
from coelho.stack.kafka import ensure_topics
from coelho.stack.ports import free_port

pytestmark = pytest.mark.integration


class Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Recorder.seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def manifests(directory: Path, topic: str) -> None:
    docs = [
        {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "metadata": {"name": "br"}},
        {
            "apiVersion": "sources.knative.dev/v1",
            "kind": "KafkaSource",
            "metadata": {"name": "src"},
            "spec": {
                "bootstrapServers": ["cluster-kafka:9092"],
                "topics": [topic],
                "consumerGroup": f"g-{topic}",
                "initialOffset": "earliest",
                "sink": {
                    "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "br"}
                },
            },
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": "t"},
            "spec": {
                "broker": "br",
                "subscriber": {
                    "ref": {
                        "apiVersion": "serving.knative.dev/v1",
                        "kind": "Service",
                        "name": "sub",
                    }
                },
            },
        },
    ]
    directory.mkdir()
    (directory / "m.yaml").write_text(yaml.safe_dump_all(docs))


def test_the_cli_serves_delivers_and_exits_zero_on_sigterm(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"cli-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topic], partitions=3)
    manifests(tmp_path / "eventing", topic)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    services = tmp_path / "services.json"
    services.write_text(json.dumps({"sub": f"http://127.0.0.1:{server.server_port}"}))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "COELHO_REDIS_URL"}
    argv = [
        sys.executable,
        "-m",
        "coelho.eventing",
        "--manifests",
        str(tmp_path / "eventing"),
        "--bootstrap",
        kafka_bootstrap,
        "--services",
        str(services),
        "--control-port",
        str(port),
    ]
    log = (tmp_path / "emulator.log").open("w+")
    child = subprocess.Popen(argv, stderr=log, env=env)
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}/health"), "GET /health == 200")
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
        producer.send(topic, key=b"k", value=b"hello").get(timeout=30)
        producer.close()
        wait_for(
            lambda: any(s.get("ce-source", "").endswith(f"#{topic}") for s in Recorder.seen),
            "the record to reach the subscriber",
        )
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
        server.shutdown()
        server.server_close()
    log.seek(0)
    text = log.read()
    assert "bootstrapServers ['cluster-kafka:9092'] replaced by local " + kafka_bootstrap in text
    assert "signal received, stopping" in text


def test_a_bad_manifest_exits_two_naming_the_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: eventing.knative.dev/v1\nkind: Broker\nmetadata: {name: b}\n"
        "spec: {delivery: {retry: many}}\n"
    )
    services = tmp_path / "services.json"
    services.write_text("{}")
    code = main(
        ["--manifests", str(tmp_path), "--bootstrap", "127.0.0.1:9", "--services", str(services)]
    )
    assert code == 2
    assert "Broker b: spec.delivery.retry: expected an integer >= 0" in caplog.text
