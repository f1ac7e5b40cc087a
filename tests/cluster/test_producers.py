"""The producer Deployments: one per domain, off in the base and on in k3d, started with a
command line the producer accepts, on the KafkaSources' Kafka, scraped by their PodMonitor.
"""

from __future__ import annotations

from typing import Any

import pytest

from coelho.domains import REGISTRY
from coelho.producer import parser
from coelho.producer_options import chosen_options, pace
from tests.cluster.manifests import Doc


def producers(docs: list[Doc]) -> dict[str, Doc]:
    return {
        d.name: d
        for d in docs
        if d.kind == "Deployment" and d.name.startswith("producer-") and d.api_version == "apps/v1"
    }


def container(doc: Doc) -> dict[str, Any]:
    (only,) = doc.body["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_one_producer_per_domain_off_in_the_base(base_docs: list[Doc]) -> None:
    found = producers(base_docs)
    assert set(found) == {f"producer-{key}" for key in REGISTRY}
    assert all(doc.body["spec"]["replicas"] == 0 for doc in found.values())


def test_the_k3d_overlay_turns_every_producer_on(overlay_docs: dict[str, list[Doc]]) -> None:
    found = producers(overlay_docs["k3d"])
    assert len(found) == len(REGISTRY)
    assert all(doc.body["spec"]["replicas"] == 1 for doc in found.values())


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_the_command_line_is_one_the_producer_accepts(
    key: str, base_docs: list[Doc], eventing_docs: list[Doc]
) -> None:
    spec = container(producers(base_docs)[f"producer-{key}"])
    argv = [str(a) for a in spec["args"]]
    assert spec["command"] == ["/cnb/lifecycle/launcher"]
    assert argv[:3] == ["python", "-m", "coelho.producer"]
    args = parser().parse_args(argv[3:])  # SystemExit (a test error) on a bad option
    assert args.domain == key
    assert args.count is None and pace(args.count, args.rate) is None  # endless, seed's pace
    chosen_options(args, key)
    (source,) = [d for d in eventing_docs if d.kind == "KafkaSource" and d.name == key]
    assert args.bootstrap in source.body["spec"]["bootstrapServers"]
    (port,) = spec["ports"]
    assert args.metrics_port == port["containerPort"] and args.metrics_host == "0.0.0.0"
    assert spec["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    hardened = spec["securityContext"]
    assert hardened["runAsNonRoot"] and hardened["readOnlyRootFilesystem"]
    assert hardened["capabilities"]["drop"] == ["ALL"]


def test_the_producer_podmonitor_scrapes_every_producer(base_docs: list[Doc]) -> None:
    (monitor,) = [d for d in base_docs if d.kind == "PodMonitor" and d.name == "coelho-producers"]
    selector = monitor.body["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor.body["spec"]["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    relabel = {r["targetLabel"]: r for r in endpoint["relabelings"]}
    assert relabel["service"]["sourceLabels"] == [
        "__meta_kubernetes_pod_label_app_kubernetes_io_name"
    ]
    for name, doc in producers(base_docs).items():
        labels = doc.body["spec"]["template"]["metadata"]["labels"]
        assert all(labels.get(k) == v for k, v in selector.items()), name
        assert labels["app.kubernetes.io/name"] == name  # -> service="producer-<domain>"
        assert endpoint["port"] in {p["name"] for p in container(doc)["ports"]}


def test_the_function_podmonitor_leaves_producers_alone(base_docs: list[Doc]) -> None:
    (monitor,) = [d for d in base_docs if d.kind == "PodMonitor" and d.name == "coelho-functions"]
    required = {e["key"] for e in monitor.body["spec"]["selector"]["matchExpressions"]}
    for name, doc in producers(base_docs).items():
        assert not required <= set(doc.body["spec"]["template"]["metadata"]["labels"]), name


def test_platform_podmonitors_match_the_bootstrap_manifests(
    base_docs: list[Doc], k3d_docs: list[Doc]
) -> None:
    monitors = {d.name: d.body["spec"] for d in base_docs if d.kind == "PodMonitor"}
    deployments = {d.name: d.body for d in k3d_docs if d.kind == "Deployment"}
    for name in ("redis", "minio"):
        pod = deployments[name]["spec"]["template"]
        selector = monitors[name]["selector"]["matchLabels"]
        assert all(pod["metadata"]["labels"].get(k) == v for k, v in selector.items()), name
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports") or []}
        (endpoint,) = monitors[name]["podMetricsEndpoints"]
        assert endpoint["port"] in ports, name
    minio_env = {
        e["name"]: e.get("value")
        for c in deployments["minio"]["spec"]["template"]["spec"]["containers"]
        for e in c.get("env") or []
    }
    assert minio_env["MINIO_PROMETHEUS_AUTH_TYPE"] == "public"
    (kafka,) = [d for d in k3d_docs if d.kind == "Kafka"]
    assert kafka.body["spec"]["kafkaExporter"]["groupRegex"] == ".*"
    exporter = monitors["kafka-exporter"]
    assert exporter["namespaceSelector"]["matchNames"] == [kafka.body["metadata"]["namespace"]]
    assert exporter["selector"]["matchLabels"]["strimzi.io/name"] == (
        f"{kafka.name}-kafka-exporter"
    )
