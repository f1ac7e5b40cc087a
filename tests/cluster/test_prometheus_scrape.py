"""A real Prometheus (Debian package) scrapes served functions and evaluates the cluster's
alert rules on what it scraped: the metric contract and the rules agree end to end.

Prometheus is configured exactly as the local stack does it (``coelho.stack.prometheus``:
one job per function with the ``service`` label, rules = the PrometheusRule specs of
knative/), on a free loopback port. One function of every kind that needs no MLflow is
served: learn-tfd, learn-eta, predict-tfd (ready once learn-tfd checkpointed) and
dead-letters. With no learn-ecci, ``CoelhoNoWriter`` must be evaluated for ecci, and only
for ecci once both writers have been scraped.
"""

from __future__ import annotations

import json
import random
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coelho import domains
from coelho.stack.prometheus import PrometheusServer
from tests.cluster import manifests
from tests.cluster.conftest import require_tool

WAIT = 90.0


def api(base: str, path: str, **params: str) -> Any:
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def eventually(what: str, check: Any) -> Any:
    """Poll ``check`` until it returns something truthy; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not within {WAIT:.0f} s: {what}")
        time.sleep(1)


def last_evaluation(base: str, group: str) -> float:
    """Unix time of the group's last evaluation (RFC 3339 with up to 9 fractional digits)."""
    (found,) = [g for g in api(base, "rules")["groups"] if g["name"] == group]
    head, _, fraction = found["lastEvaluation"].rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(tzinfo=UTC).timestamp() + float(f"0.{fraction}")


def send_events(base: str, domain_key: str, count: int) -> list[dict[str, Any]]:
    domain = domains.get(domain_key)
    generator = domain.generator(random.Random(3), None, lambda: datetime.now(UTC))
    events = [generator.next_event() for _ in range(count)]
    for offset, event in enumerate(events):
        headers = {
            "ce-specversion": "1.0",
            "ce-type": "dev.knative.kafka.event",
            "ce-source": f"/apis/v1/namespaces/coelho/kafkasources/{domain_key}#{domain.topic}",
            "ce-id": f"partition:0/offset:{offset}",
            "ce-domain": domain_key,
            "content-type": "application/json",
        }
        assert post(base, event, headers) == 202
    return events


def post(base: str, body: Any, headers: dict[str, str]) -> int:
    data = json.dumps(body).encode()
    request = urllib.request.Request(base, data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(response.status)


def test_prometheus_scrapes_functions_and_evaluates_the_rules(
    serve_function: Any, redis_client: Any, tmp_path: Path
) -> None:
    require_tool("prometheus")
    served = {
        "learn-tfd": serve_function("learn-tfd"),
        "learn-eta": serve_function("learn-eta"),
        "dead-letters": serve_function("dead-letters"),
    }
    events = send_events(served["learn-tfd"], "tfd", 60)  # > COELHO_CHECKPOINT_EVERY (50)
    send_events(served["learn-eta"], "eta", 5)
    served["predict-tfd"] = serve_function("predict-tfd")  # waits for readiness: a model
    assert post(served["predict-tfd"], events[0], {"content-type": "application/json"}) == 200
    targets = {name: base.removeprefix("http://") for name, base in served.items()}
    prometheus = PrometheusServer(tmp_path / "prometheus")
    prometheus.start(targets, manifests.KNATIVE)
    try:
        url = prometheus.url
        scraped = eventually(
            "every served function scraped (up == 1)",
            lambda: (
                {r["metric"]["service"] for r in api(url, "query", query="up == 1")["result"]}
                >= set(served)
            ),
        )
        assert scraped
        received = eventually(
            "coelho_events_received_total of tfd scraped",
            lambda: api(url, "query", query='coelho_events_received_total{domain="tfd"}')["result"],
        )
        assert float(received[0]["value"][1]) == 60
        assert received[0]["metric"]["service"] == "learn-tfd"
        requests = eventually(
            "coelho_predict_requests_total of tfd scraped",
            lambda: api(url, "query", query='coelho_predict_requests_total{domain="tfd"}')[
                "result"
            ],
        )
        assert {r["metric"]["code"] for r in requests} == {"200"}

        groups = {g["name"]: g for g in api(url, "rules")["groups"]}
        assert {"coelho-functions", "coelho-learn", "coelho-snapshot"} <= set(groups)

        def no_writer() -> set[str]:
            alerts = api(url, "alerts")["alerts"]
            return {
                a["labels"]["domain"]
                for a in alerts
                if a["labels"]["alertname"] == "CoelhoNoWriter"
            }

        writers = eventually(
            "learn-tfd and learn-eta hold their leases",
            lambda: len(api(url, "query", query="coelho_is_writer == 1")["result"]) == 2,
        )
        assert writers
        seen_at = time.time()
        eventually(
            "an evaluation of coelho-functions after both writers were scraped",
            lambda: last_evaluation(url, "coelho-functions") > seen_at,
        )
        assert no_writer() == {"ecci"}
    finally:
        prometheus.stop()
