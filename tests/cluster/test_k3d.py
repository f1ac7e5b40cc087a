"""k3d/: the cluster config (no schema exists: its known keys are checked here), the pinned
versions, the bootstrap script, the images of the in-cluster services, the Helm values and
the Alertmanager configuration in them.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import manifests
from tests.cluster.conftest import require_tool

# k3d.io/v1alpha5 Simple: the keys k3d accepts (from its documented config file format).
# A dict maps a key to its sub-keys; None means a scalar or a list we do not descend into.
K3D_KEYS: dict[str, Any] = {
    "apiVersion": None,
    "kind": None,
    "metadata": {"name": None},
    "servers": None,
    "agents": None,
    "kubeAPI": {"host": None, "hostIP": None, "hostPort": None},
    "image": None,
    "network": None,
    "subnet": None,
    "token": None,
    "volumes": None,
    "ports": None,
    "env": None,
    "hostAliases": None,
    "registries": {
        "create": {
            "name": None,
            "host": None,
            "hostPort": None,
            "image": None,
            "proxy": None,
            "volumes": None,
        },
        "use": None,
        "config": None,
    },
    "options": {
        "k3d": {
            "wait": None,
            "timeout": None,
            "disableLoadbalancer": None,
            "disableImageVolume": None,
            "disableRollback": None,
            "loadbalancer": None,
        },
        "k3s": {"extraArgs": None, "nodeLabels": None},
        "kubeconfig": {"updateDefaultKubeconfig": None, "switchCurrentContext": None},
        "runtime": None,
    },
}
KNATIVE_KEYS = (
    "KNATIVE_SERVING_VERSION",
    "KNATIVE_KOURIER_VERSION",
    "KNATIVE_EVENTING_VERSION",
    "KNATIVE_KAFKA_VERSION",
)
CLUSTER_YAML = manifests.K3D / "cluster.yaml"
BOOTSTRAP = manifests.K3D / "bootstrap.sh"
VALUES = manifests.K3D / "helm" / "kube-prometheus-stack.values.yaml"


def unknown_keys(config: dict[str, Any], allowed: dict[str, Any], prefix: str = "") -> list[str]:
    found = []
    for key, value in config.items():
        path = f"{prefix}{key}"
        if key not in allowed:
            found.append(path)
        elif isinstance(allowed[key], dict):
            if not isinstance(value, dict):
                found.append(f"{path} (must be a mapping)")
            else:
                found += unknown_keys(value, allowed[key], f"{path}.")
    return found


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def test_k3d_config_has_only_known_keys(cluster: dict[str, Any]) -> None:
    assert (cluster["apiVersion"], cluster["kind"]) == ("k3d.io/v1alpha5", "Simple")
    assert unknown_keys(cluster, K3D_KEYS) == []


def test_the_key_check_catches_a_typo() -> None:
    bad = {"apiVersion": "k3d.io/v1alpha5", "options": {"k3s": {"extraArg": []}}}
    assert unknown_keys(bad, K3D_KEYS) == ["options.k3s.extraArg"]


def test_k3d_config_matches_versions_and_design(
    cluster: dict[str, Any], versions: dict[str, str]
) -> None:
    assert cluster["metadata"]["name"] == versions["CLUSTER_NAME"]
    assert cluster["image"] == versions["K3S_IMAGE"]
    args = [a["arg"] for a in cluster["options"]["k3s"]["extraArgs"]]
    assert "--disable=traefik" in args, "Kourier needs port 80: Traefik must be disabled"
    ports = {p["port"]: p["nodeFilters"] for p in cluster["ports"]}
    assert ports.get("80:80") == ["loadbalancer"]
    create = cluster["registries"]["create"]
    assert f"k3d-{create['name']}" == versions["REGISTRY_NAME"]
    assert create["hostPort"] == versions["REGISTRY_PORT"]
    assert create["host"] == "127.0.0.1", "the registry binds loopback only"


def test_versions_are_pinned_and_consistent(versions: dict[str, str]) -> None:
    for key, value in versions.items():
        assert value and "latest" not in value, f"{key} is not pinned"
    knative = {versions[k] for k in KNATIVE_KEYS}
    assert len(knative) == 1, f"Knative components must share one release: {knative}"
    (release,) = knative
    assert re.fullmatch(r"knative-v1\.\d+\.\d+", release)
    minor = release.rsplit(".", 1)[0]
    assert versions["FUNC_VERSION"].startswith(minor), "func must match Knative's minor"
    assert re.fullmatch(r"\d+\.\d+\.\d+", versions["STRIMZI_VERSION"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", versions["KUBE_PROMETHEUS_STACK_VERSION"])
    assert re.fullmatch(r"rancher/k3s:v1\.\d+\.\d+-k3s\d+", versions["K3S_IMAGE"])


def test_registry_is_skipped_by_tag_resolution(versions: dict[str, str], k3d_docs: list) -> None:
    (deployment,) = [d for d in k3d_docs if d.name == "config-deployment"]
    skipped = deployment.body["data"]["registries-skipping-tag-resolving"].split(",")
    assert f"{versions['REGISTRY_NAME']}:{versions['REGISTRY_PORT']}" in skipped


def test_overlay_images_come_from_the_k3d_registry(
    versions: dict[str, str], overlay_docs: dict[str, list]
) -> None:
    registry = f"{versions['REGISTRY_NAME']}:{versions['REGISTRY_PORT']}/coelho/"
    for name, doc in manifests.knative_services(overlay_docs["k3d"]).items():
        (container,) = manifests.containers(doc)
        assert container["image"].startswith(f"{registry}{name}:"), container["image"]


def test_knative_serving_config(k3d_docs: list) -> None:
    config = {d.name: d.body.get("data") or {} for d in k3d_docs if d.kind == "ConfigMap"}
    assert config["config-network"]["ingress-class"] == "kourier.ingress.networking.knative.dev"
    assert "127.0.0.1.sslip.io" in config["config-domain"]
    assert config["kafka-broker-config"]["default.topic.replication.factor"] == "1"


def test_in_cluster_images_are_pinned(k3d_docs: list) -> None:
    images = [c["image"] for d in k3d_docs for c in manifests.containers(d)]
    assert len(images) >= 5
    for image in images:
        name, _, tag = image.rpartition(":")
        assert "@sha256:" in image or (name and tag and tag != "latest"), f"{image} not pinned"
        assert "/" in name, f"{image}: give the registry and repository explicitly"


def test_manifests_are_numbered_and_all_applied_by_the_bootstrap() -> None:
    text = BOOTSTRAP.read_text()
    files = sorted((manifests.K3D / "manifests").glob("*.yaml"))
    assert files
    for path in files:
        assert re.match(r"^\d\d-[a-z0-9-]+\.yaml$", path.name), path.name
        assert f"$MANIFESTS/{path.name}" in text, f"bootstrap.sh never applies {path.name}"


def test_bootstrap_is_strict_and_uses_the_pinned_versions() -> None:
    text = BOOTSTRAP.read_text()
    assert "set -euo pipefail" in text
    assert 'source "$HERE/versions.env"' in text
    hard_coded = re.findall(r"knative-v\d|strimzi-cluster-operator-\d|--version \d", text)
    assert hard_coded == [], "versions belong in k3d/versions.env"
    for key in ("KNATIVE_SERVING_VERSION", "STRIMZI_VERSION", "KUBE_PROMETHEUS_STACK_VERSION"):
        assert f"${{{key}}}" in text or f"${key}" in text, f"bootstrap.sh ignores {key}"


def test_bootstrap_parses() -> None:
    bash = require_tool("bash")
    result = subprocess.run([bash, "-n", str(BOOTSTRAP)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bootstrap_passes_shellcheck() -> None:
    shellcheck = require_tool("shellcheck")
    result = subprocess.run(
        [shellcheck, "-x", str(BOOTSTRAP)], capture_output=True, text=True, cwd=manifests.REPO
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_targets_exist() -> None:
    targets = (manifests.K3D / "targets.mk").read_text()
    for target in ("k3d-up", "k3d-down", "deploy", "vendor", "cluster-test"):
        assert re.search(rf"^{target}:", targets, re.M), f"targets.mk lacks {target}"
    makefile = manifests.REPO / "Makefile"
    if makefile.is_file():
        assert "-include k3d/targets.mk" in makefile.read_text()


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def test_prometheus_selects_monitors_and_rules_of_every_namespace(values: dict[str, Any]) -> None:
    spec = values["prometheus"]["prometheusSpec"]
    for kind in ("podMonitor", "serviceMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False, kind
        assert spec[f"{kind}NamespaceSelector"] == {}, kind


def test_grafana_sidecar_finds_the_dashboards(values: dict[str, Any], base_docs: list) -> None:
    sidecar = values["grafana"]["sidecar"]["dashboards"]
    assert sidecar["enabled"] is True and sidecar["searchNamespace"] == "ALL"
    dashboards = [
        d
        for d in base_docs
        if d.kind == "ConfigMap"
        and (d.body["metadata"].get("labels") or {}).get(sidecar["label"]) == sidecar["labelValue"]
    ]
    assert len(dashboards) == 6


@pytest.fixture(scope="module")
def alertmanager_config(values: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(yaml.safe_dump(values["alertmanager"]["config"]))
    return path


def test_alertmanager_config_is_valid(alertmanager_config: Path) -> None:
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(alertmanager_config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=CoelhoFunctionDown"], "critical"),
        (["severity=warning", "alertname=CoelhoLearnLagHigh"], "slack-warning"),
        (["severity=info", "alertname=Something"], "null"),
        (["severity=none", "alertname=Watchdog"], "null"),
        (["alertname=Unlabelled"], "slack-warning"),
    ],
)
def test_alertmanager_routes_by_severity(
    alertmanager_config: Path, labels: list[str], receiver: str
) -> None:
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={alertmanager_config}", *labels],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [receiver]


def test_alertmanager_secrets_come_from_files(values: dict[str, Any]) -> None:
    """Webhook URL and SMTP password are read from the mounted Secret, never inlined."""
    config = values["alertmanager"]["config"]
    mounted = values["alertmanager"]["alertmanagerSpec"]["secrets"]
    text = yaml.safe_dump(config)
    for literal in ("slack_api_url:", "smtp_auth_password:", "api_url:", "auth_password:"):
        assert literal not in text, f"{literal} must be a *_file setting"
    for key in ("slack_api_url_file", "smtp_auth_password_file"):
        path = config["global"][key]
        assert path.startswith(f"/etc/alertmanager/secrets/{mounted[0]}/"), path
    assert "alertmanager-receivers" in re.findall(
        r"ensure_secret observability (\S+)", BOOTSTRAP.read_text()
    )
