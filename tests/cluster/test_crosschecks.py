"""Facts that hold across files: references resolve, visibility and scaling are as designed,
no secret is written down, and every Knative Service is hardened the same way.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.cluster import manifests
from tests.cluster.manifests import Doc

SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY", re.IGNORECASE)
CLUSTER_LOCAL = ("learn-", "snapshot", "dead-letters", "archive")
RESERVED_PORTS = {8012, 8013, 8022, 9090, 9091, 8008}


def refs(doc: Doc) -> list[tuple[str, dict[str, Any]]]:
    """(role, ref) of every Destination ref in an eventing object: sinks, subscribers, DLS."""
    spec = doc.body.get("spec") or {}
    found = []
    for role, dest in (("sink", spec.get("sink")), ("subscriber", spec.get("subscriber"))):
        if dest and dest.get("ref"):
            found.append((role, dest["ref"]))
    dls = (spec.get("delivery") or {}).get("deadLetterSink") or {}
    if dls.get("ref"):
        found.append(("deadLetterSink", dls["ref"]))
    return found


def test_every_eventing_reference_resolves(eventing_docs: list[Doc], base_docs: list[Doc]) -> None:
    services = manifests.knative_services(base_docs)
    brokers = {d.name for d in eventing_docs if d.kind == "Broker"}
    jobsinks = {d.name for d in eventing_docs if d.kind == "JobSink"}
    checked = 0
    for doc in eventing_docs:
        for role, ref in refs(doc):
            checked += 1
            where = f"{doc.where} {doc.kind}/{doc.name} {role}"
            assert ref.get("namespace", "coelho") == "coelho", where
            if ref["kind"] == "Service":
                assert ref["apiVersion"] == "serving.knative.dev/v1", where
                assert ref["name"] in services, f"{where}: no Knative Service {ref['name']}"
            elif ref["kind"] == "Broker":
                assert ref["name"] in brokers, f"{where}: no Broker {ref['name']}"
            elif ref["kind"] == "JobSink":
                assert ref["apiVersion"] == "sinks.knative.dev/v1alpha1", where
                assert ref["name"] in jobsinks, f"{where}: no JobSink {ref['name']}"
            else:
                pytest.fail(f"{where}: unexpected ref kind {ref['kind']}")
        if doc.kind == "Trigger":
            assert doc.body["spec"]["broker"] in brokers, doc.where
    assert checked >= 7, "expected at least the Triggers' subscribers and dead-letter sinks"


def test_a_dangling_reference_is_caught() -> None:
    body = {"kind": "Trigger", "spec": {"subscriber": {"ref": {"kind": "Service", "name": "x"}}}}
    assert refs(Doc("test", 0, body)) == [("subscriber", {"kind": "Service", "name": "x"})]


def test_internal_functions_are_cluster_local(overlay_docs: dict[str, list[Doc]]) -> None:
    for overlay, docs in overlay_docs.items():
        for name, doc in manifests.knative_services(docs).items():
            label = (doc.body["metadata"].get("labels") or {}).get(
                "networking.knative.dev/visibility"
            )
            if name.startswith(CLUSTER_LOCAL):
                assert label == "cluster-local", f"{overlay}: {name} must be cluster-local"
            elif name == "query":
                assert label == "cluster-local", f"{overlay}: SQL is reached through dash only"
            elif name.startswith("predict-") or name == "dash":
                assert label is None, f"{overlay}: {name} is public"


def annotations(doc: Doc) -> dict[str, str]:
    return doc.body["spec"]["template"].get("metadata", {}).get("annotations") or {}


def test_predict_and_query_functions_scale_to_zero(overlay_docs: dict[str, list[Doc]]) -> None:
    seen = 0
    for docs in overlay_docs.values():
        for name, doc in manifests.knative_services(docs).items():
            if not name.startswith("predict-") and name != "query":
                continue
            seen += 1
            ann = annotations(doc)
            assert ann.get("autoscaling.knative.dev/min-scale", "0") == "0", name
            assert "hpa" not in ann.get("autoscaling.knative.dev/class", "kpa"), name
            assert int(ann["autoscaling.knative.dev/max-scale"]) >= 1, name
            assert int(ann["autoscaling.knative.dev/target"]) > 0, name
            assert "autoscaling.knative.dev/scale-to-zero-pod-retention-period" in ann, name
    assert seen == 4 * len(overlay_docs)


def test_single_writer_and_always_on_services(overlay_docs: dict[str, list[Doc]]) -> None:
    """learn-*, dead-letters and snapshot keep exactly one warm pod (see their comments)."""
    for docs in overlay_docs.values():
        for name, doc in manifests.knative_services(docs).items():
            if name.startswith(CLUSTER_LOCAL):
                ann = annotations(doc)
                assert ann.get("autoscaling.knative.dev/min-scale") == "1", name
                assert ann.get("autoscaling.knative.dev/max-scale") == "1", name


def test_autoscaling_annotations_are_strings(base_docs: list[Doc]) -> None:
    for doc in manifests.knative_services(base_docs).values():
        for key, value in annotations(doc).items():
            assert isinstance(value, str), f"{doc.name}: {key} must be a string"


def env_entries(doc: Doc) -> list[dict[str, Any]]:
    return [e for c in manifests.containers(doc) for e in c.get("env") or []]


def all_docs(*groups: list[Doc]) -> list[Doc]:
    return [d for group in groups for d in group]


def test_no_literal_secret_in_any_manifest(
    base_docs: list[Doc],
    overlay_docs: dict[str, list[Doc]],
    eventing_docs: list[Doc],
    k3d_docs: list[Doc],
) -> None:
    docs = all_docs(base_docs, eventing_docs, k3d_docs, *overlay_docs.values())
    for path in manifests.yaml_files(manifests.KNATIVE):
        docs += manifests.file_docs(path)
    for doc in docs:
        if doc.kind == "Secret":
            body = doc.body
            assert not body.get("data") and not body.get("stringData"), (
                f"{doc.where}: Secret {doc.name} with values is committed; "
                "k3d/bootstrap.sh generates secrets"
            )
        if not isinstance(doc.body, dict):
            continue
        for entry in env_entries(doc):
            if SECRET_NAME.search(entry["name"]):
                assert "value" not in entry, (
                    f"{doc.where}: env {entry['name']} has a literal value; use valueFrom"
                )
        if doc.kind == "ConfigMap":
            for key in doc.body.get("data") or {}:
                assert not SECRET_NAME.search(key), (
                    f"{doc.where}: secret-like key {key} in a ConfigMap"
                )


def bootstrap_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, from the ensure_secret calls of k3d/bootstrap.sh."""
    text = (manifests.K3D / "bootstrap.sh").read_text().replace("\\\n", " ")
    found: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = re.match(r"\s*ensure_secret\s+(\S+)\s+(\S+)\s+(.*)", line)
        if match:
            keys = re.findall(r'"([A-Za-z0-9_.-]+)=', match.group(3))
            found[f"{match.group(1)}/{match.group(2)}"] = set(keys)
    return found


def secret_refs(doc: Doc) -> list[tuple[str, str | None]]:
    """(secret name, key or None for envFrom) referenced by the containers of ``doc``."""
    found: list[tuple[str, str | None]] = []
    for container in manifests.containers(doc):
        for entry in container.get("env") or []:
            ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                found.append((ref["name"], ref["key"]))
        for source in container.get("envFrom") or []:
            if "secretRef" in source:
                found.append((source["secretRef"]["name"], None))
    return found


def test_every_secret_reference_is_created_by_the_bootstrap(
    base_docs: list[Doc], k3d_docs: list[Doc]
) -> None:
    created = bootstrap_secrets()
    assert {"coelho/coelho-runtime", "coelho/redis-auth", "coelho/minio-auth"} <= set(created)
    assert created["coelho/coelho-runtime"] == {"COELHO_REDIS_URL", "COELHO_STATE_KEY"}
    checked = 0
    for doc in all_docs(base_docs, k3d_docs):
        namespace = doc.body.get("metadata", {}).get("namespace", "")
        for name, key in secret_refs(doc):
            checked += 1
            full = f"{namespace}/{name}"
            assert full in created, f"{doc.where}: secret {full} is not created by bootstrap.sh"
            assert key is None or key in created[full], f"{doc.where}: no key {key} in {full}"
    assert checked >= 20


def test_every_config_map_reference_exists(base_docs: list[Doc]) -> None:
    maps = {d.name for d in base_docs if d.kind == "ConfigMap"}
    for doc in manifests.knative_services(base_docs).values():
        for container in manifests.containers(doc):
            for source in container.get("envFrom") or []:
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in maps, doc.name


@pytest.mark.parametrize("overlay", [o.name for o in manifests.OVERLAYS])
def test_every_knative_service_is_hardened(
    overlay: str, overlay_docs: dict[str, list[Doc]]
) -> None:
    services = manifests.knative_services(overlay_docs[overlay])
    assert services
    for name, doc in services.items():
        spec = doc.body["spec"]["template"]["spec"]
        (container,) = spec["containers"]  # one container: Knative's single user port
        assert container.get("image"), f"{name}: no image (a patch replaced the container?)"
        assert container["ports"] == [{"name": "http1", "containerPort": 8080}], name
        assert 8080 not in RESERVED_PORTS
        health = ("/", "/") if name == "dash" else ("/health/liveness", "/health/readiness")
        assert container["livenessProbe"]["httpGet"]["path"] == health[0], name
        assert container["readinessProbe"]["httpGet"]["path"] == health[1], name
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
        assert resources["limits"]["memory"], name
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be an emptyDir"
        labels = doc.body["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "coelho", name


def test_services_match_function_folders(base_docs: list[Doc], eventing_docs: list[Doc]) -> None:
    """Every functions/<name>/ is a Knative Service or the image of a JobSink's Job, and back."""
    services = set(manifests.knative_services(base_docs))
    jobs = set(manifests.job_sinks(eventing_docs))
    folders = {p.name for p in manifests.FUNCTIONS.iterdir() if p.is_dir()}
    assert not services & jobs, "a function is either a Service or a job, not both"
    assert (services - {"dash"}) | jobs == folders, "every functions/<name>/ needs a home"
    assert jobs, "expected the batch trainer's JobSink"


def test_every_job_sink_is_hardened_and_sized(eventing_docs: list[Doc]) -> None:
    """The trainer's Job: non-root, read-only root, /tmp emptyDir, CPU and memory sized."""
    for name, doc in manifests.job_sinks(eventing_docs).items():
        pod = manifests.job_pod(doc)
        job = doc.body["spec"]["job"]["spec"]
        assert pod["restartPolicy"] == "Never" and job["backoffLimit"] == 0, name
        assert job["activeDeadlineSeconds"] > 0, f"{name}: a stuck training must end"
        assert pod["automountServiceAccountToken"] is False, name
        (container,) = pod["containers"]
        resources = container["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], name
        assert resources["limits"]["memory"], name
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"], name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], f"{name}: /tmp must be an emptyDir"


def test_podmonitor_selects_every_function_pod(base_docs: list[Doc]) -> None:
    (monitor,) = [d for d in base_docs if d.kind == "PodMonitor" and d.name == "coelho-functions"]
    selector = monitor.body["spec"]["selector"]
    (endpoint,) = monitor.body["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "user-port" and endpoint["path"] == "/metrics"
    targets = {r["targetLabel"] for r in endpoint.get("relabelings") or []}
    assert "service" in targets, "rules and dashboards key on the service label"
    for name, doc in manifests.knative_services(base_docs).items():
        labels = doc.body["spec"]["template"]["metadata"]["labels"]
        for key, value in selector["matchLabels"].items():
            assert labels.get(key) == value, f"{name}: pod label {key}={value} missing"


def test_dash_may_only_scale_kafkasources(base_docs: list[Doc]) -> None:
    by_kind = {(d.kind, d.name): d.body for d in base_docs}
    role = by_kind[("Role", "coelho-dash-kafkasource-scale")]
    rules = {
        (group, resource): sorted(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("sources.knative.dev", "kafkasources"): ["get", "list"],
        ("sources.knative.dev", "kafkasources/scale"): ["get", "patch"],
    }
    binding = by_kind[("RoleBinding", "coelho-dash-kafkasource-scale")]
    assert binding["roleRef"]["name"] == "coelho-dash-kafkasource-scale"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "coelho-dash", "namespace": "coelho"}
    ]
    assert ("ServiceAccount", "coelho-dash") in by_kind
    dash = manifests.knative_services(base_docs)["dash"]
    assert dash.body["spec"]["template"]["spec"]["serviceAccountName"] == "coelho-dash"
    for name, doc in manifests.knative_services(base_docs).items():
        if name != "dash":
            assert doc.body["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_kafka_sources_match_the_k3d_kafka(eventing_docs: list[Doc], k3d_docs: list[Doc]) -> None:
    (kafka,) = [d for d in k3d_docs if d.kind == "Kafka"]
    listener = kafka.body["spec"]["kafka"]["listeners"][0]
    namespace = kafka.body["metadata"]["namespace"]
    bootstrap = f"{kafka.name}-kafka-bootstrap.{namespace}:{listener['port']}"
    topics = {
        d.body["spec"]["topicName"]: d.body["spec"] for d in k3d_docs if d.kind == "KafkaTopic"
    }
    pools = [d for d in k3d_docs if d.kind == "KafkaNodePool"]
    brokers = sum(p.body["spec"]["replicas"] for p in pools if "broker" in p.body["spec"]["roles"])
    for pool in pools:
        assert pool.body["metadata"]["labels"]["strimzi.io/cluster"] == kafka.name
    sources = [d for d in eventing_docs if d.kind == "KafkaSource"]
    assert len(sources) == 3
    for source in sources:
        assert source.body["spec"]["bootstrapServers"] == [bootstrap], source.where
        for topic in source.body["spec"]["topics"]:
            assert topic in topics, f"{source.where}: no KafkaTopic {topic} in k3d/manifests"
            assert topics[topic]["partitions"] == 3
            assert topics[topic]["replicas"] <= brokers
    (config,) = [d for d in k3d_docs if d.name == "kafka-broker-config"]
    assert config.body["data"]["bootstrap.servers"] == bootstrap
    assert int(config.body["data"]["default.topic.replication.factor"]) <= brokers
    (broker,) = [d for d in eventing_docs if d.kind == "Broker"]
    ref = broker.body["spec"]["config"]
    assert (ref["name"], ref["namespace"]) == ("kafka-broker-config", "knative-eventing")
    assert broker.body["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"


def test_the_training_trigger_retries_and_dead_letters(eventing_docs: list[Doc]) -> None:
    """The Trigger to the trainer's JobSink: its type only, retries with back-off, a timeout,
    and a dead-letter sink, so a request the job-sink cannot take is kept with its reason."""
    triggers = [
        d
        for d in eventing_docs
        if d.kind == "Trigger"
        and d.body["spec"]["subscriber"].get("ref", {}).get("kind") == "JobSink"
    ]
    assert [t.name for t in triggers] == ["train"]
    spec = triggers[0].body["spec"]
    assert spec["filters"] == [{"exact": {"type": "coelho.batch.train.requested"}}]
    delivery = spec["delivery"]
    assert delivery["retry"] >= 1 and delivery["backoffPolicy"] == "exponential"
    assert delivery["timeout"] and delivery["deadLetterSink"]["ref"]["name"] == "dead-letters"
