"""The producer as a service: a real Prometheus, configured as ``coelho up`` configures it,
scrapes a producer process writing to a real Kafka; and ``--count`` runs go at full speed.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from coelho.stack.ports import free_port
from coelho.stack.prometheus import PrometheusServer
from tests.conftest import REPO

FRAUD_PROBABILITY = 0.2
ENOUGH = 4_000  # events: a 4-sigma binomial band of +-0.025 around 0.2
WAIT = 90.0


def query(base: str, expr: str) -> dict[str, float]:
    """Instant query -> {service label: value}."""
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return {r["metric"].get("service", ""): float(r["value"][1]) for r in body["data"]["result"]}


def producer(*args: str, **kw: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [sys.executable, "-m", "coelho.producer", *args]
    return subprocess.Popen(argv, env=env, text=True, **kw)


def dashboard_panels_without_data(base: str) -> set[str]:
    """Titles of the Producers dashboard's panels whose queries all return nothing, once
    Prometheus holds a minute's worth of scrapes (rates need two samples)."""
    deadline = time.monotonic() + WAIT
    samples = "count_over_time(coelho_producer_messages_sent_total[1m])"
    while query(base, samples).get("producer-tfd", 0) < 3:
        assert time.monotonic() < deadline, "fewer than 3 scrapes of the producer"
        time.sleep(1)
    board = json.loads((REPO / "knative/monitoring/dashboards/producers.json").read_text())
    empty = set()
    for panel in board["panels"]:
        exprs = [t["expr"].replace("$__rate_interval", "1m") for t in panel.get("targets", [])]
        if exprs and not any(query(base, expr) for expr in exprs):
            empty.add(panel["title"])
    return empty


def end_offsets(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values())
    finally:
        consumer.close()


def test_prometheus_scrapes_the_producer_and_its_fraud_ratio(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    port = free_port()
    topic = f"producer-metrics-{uuid.uuid4().hex[:8]}"
    child = producer("tfd", "--bootstrap", kafka_bootstrap, "--topic", topic, "--rate", "2000",
                     "--metrics-port", str(port), "--seed", "3",
                     "--fraud-probability", str(FRAUD_PROBABILITY))  # fmt: skip
    prometheus = PrometheusServer(tmp_path / "prometheus")
    try:
        prometheus.start({"producer-tfd": f"127.0.0.1:{port}"}, REPO / "knative")
        base = prometheus.url
        deadline = time.monotonic() + WAIT
        while query(base, "coelho_producer_messages_sent_total").get("producer-tfd", 0) < ENOUGH:
            assert child.poll() is None, f"producer exited with {child.returncode}"
            assert time.monotonic() < deadline, f"fewer than {ENOUGH} sends scraped in {WAIT} s"
            time.sleep(1)
        # One scrape carries both series: the ratio is over (about) the events counted.
        snapshot = {
            name: query(base, expr)["producer-tfd"]
            for name, expr in {
                "sent": "coelho_producer_messages_sent_total",
                "ratio": 'coelho_producer_fraud_ratio{domain="tfd"}',
                "up": 'up{job="producer-tfd"}',
                "connected": "coelho_producer_connected",
                "acks": "coelho_producer_send_seconds_count",
                "bytes": "coelho_producer_message_bytes_sum",
                "rate": "coelho_producer_target_rate",
            }.items()
        }  # fmt: skip
        errors = query(base, "coelho_producer_errors_total")
        empty_panels = dashboard_panels_without_data(base)
    finally:
        child.send_signal(signal.SIGTERM)
        code = child.wait(timeout=30)
        prometheus.stop()
    assert code == 0
    assert snapshot["up"] == 1 and snapshot["connected"] == 1 and snapshot["rate"] == 2000
    assert snapshot["acks"] == snapshot["sent"] >= ENOUGH
    assert snapshot["bytes"] > 300 * snapshot["sent"]  # a transaction is ~600 bytes of JSON
    assert not errors
    band = 4 * math.sqrt(FRAUD_PROBABILITY * (1 - FRAUD_PROBABILITY) / snapshot["sent"])
    assert abs(snapshot["ratio"] - FRAUD_PROBABILITY) <= band, snapshot
    assert end_offsets(kafka_bootstrap, topic) >= snapshot["sent"]
    # What a tfd producer without errors cannot show: ecci's gauge and the error series.
    assert empty_panels == {"Active sessions (ecci)", "Send errors / s by type"}


def test_a_counted_run_sends_every_event_with_a_progress_bar(kafka_bootstrap: str) -> None:
    """``--count`` without ``--rate`` is unthrottled: the decision is ``pace`` (unit-tested in
    test_producer.py); here the whole run, its progress bar and every record in Kafka."""
    topic = f"producer-count-{uuid.uuid4().hex[:8]}"
    child = producer("eta", "--bootstrap", kafka_bootstrap, "--topic", topic, "--count", "500",
                     "--progress", "--incident-probability", "0.5",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        _, err = child.communicate(timeout=600)  # a hang guard only, not a speed bound
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    assert child.returncode == 0, err
    assert "500/500" in err and "eta: 500 events" in err
    assert end_offsets(kafka_bootstrap, topic) == 500
