"""Load the project's YAML manifests and check them against the CRD JSON schemas, offline.

Schemas live in ``$COELHO_K8S_SCHEMAS`` (default ``<repo>/../shared/k8s-schemas``) in
kubeconform's layout ``{group}/{kind}_{version}.json``. Core Kubernetes kinds have no schema
there, so ``check_core`` checks what every object needs (apiVersion, kind, metadata.name)
plus the fields this project relies on, and says which of those it checked.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, Draft7Validator

REPO = Path(__file__).resolve().parents[2]
KNATIVE = REPO / "knative"
EVENTING = REPO / "eventing"
K3D = REPO / "k3d"
FUNCTIONS = REPO / "functions"
OVERLAYS = sorted(p.parent for p in (KNATIVE / "overlays").glob("*/kustomization.yaml"))

# Core kinds (no CRD schema): apiVersion they must use.
CORE_KINDS = {
    "Namespace": "v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "Service": "v1",
    "ServiceAccount": "v1",
    "PersistentVolumeClaim": "v1",
    "Deployment": "apps/v1",
    "Job": "batch/v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "ClusterRole": "rbac.authorization.k8s.io/v1",
    "ClusterRoleBinding": "rbac.authorization.k8s.io/v1",
}
# Kinds that are not Kubernetes objects at all, each checked by its own test.
NON_OBJECT_KINDS = {
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"),
    ("k3d.io/v1alpha5", "Simple"),
}
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


class Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings, as YAML-to-JSON converters (kubectl,
    func, kubeconform) do; schemas then see ``created: 2026-...`` as the string it is."""


Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=Loader)


@dataclass(frozen=True)
class Doc:
    """One YAML document and where it came from (``origin`` is a file or a render)."""

    origin: str
    index: int
    body: Any

    @property
    def where(self) -> str:
        return f"{self.origin} (document {self.index})"

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", "")) if isinstance(self.body, dict) else ""

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", "")) if isinstance(self.body, dict) else ""

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))


def parse_docs(text: str, origin: str) -> list[Doc]:
    bodies = yaml.load_all(text, Loader=Loader)
    return [Doc(origin, i, body) for i, body in enumerate(bodies) if body]


def yaml_files(*folders: Path) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        files += [*folder.rglob("*.yaml"), *folder.rglob("*.yml")]
    return sorted(files)


def file_docs(path: Path) -> list[Doc]:
    return parse_docs(path.read_text(), str(path.relative_to(REPO)))


def kustomize(folder: Path) -> list[Doc]:
    """``kubectl kustomize <folder>`` (offline) as documents."""
    result = subprocess.run(
        ["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise AssertionError(f"kubectl kustomize {folder} failed:\n{result.stderr}")
    return parse_docs(result.stdout, f"kubectl kustomize {folder.relative_to(REPO)}")


def schemas_dir() -> Path:
    default = REPO.parent / "shared" / "k8s-schemas"
    return Path(os.environ.get("COELHO_K8S_SCHEMAS", default))


def schema_path(doc: Doc, root: Path) -> Path | None:
    """``{group}/{kind}_{version}.json`` for a CRD kind, None for core kinds."""
    group, _, version = doc.api_version.rpartition("/")
    if not group or "." not in group or group.endswith(".k8s.io"):
        return None  # the core API and its built-in groups (apps, batch, rbac...)
    return root / group / f"{doc.kind.lower()}_{version}.json"


@cache
def _validator(path: Path) -> Draft4Validator | Draft7Validator:
    schema = json.loads(path.read_text())
    cls = Draft7Validator if "draft-07" in str(schema.get("$schema", "")) else Draft4Validator
    # No check_schema(): the PrometheusRule schema carries a Go regex ("^(?i)...") that
    # Python's re rejects as a pattern *format*; it is only compiled if the field is used.
    return cls(schema)


def schema_errors(doc: Doc, root: Path) -> list[str]:
    """Messages of every schema violation of ``doc``; [] when valid."""
    path = schema_path(doc, root)
    if path is None:
        raise ValueError(f"{doc.where}: {doc.api_version} {doc.kind} is a core kind")
    if not path.is_file():
        return [f"{doc.where}: no schema {path.relative_to(root)} for {doc.api_version} {doc.kind}"]
    errors = sorted(_validator(path).iter_errors(doc.body), key=lambda e: list(e.path))
    return [f"{doc.where} {doc.kind}/{doc.name}: {'.'.join(map(str, e.path))}: {e.message}"
            for e in errors]  # fmt: skip


def check_core(doc: Doc) -> list[str]:
    """Structural checks of a core kind (no schema available): what a server would reject."""
    body, problems = doc.body, []
    expected = CORE_KINDS.get(doc.kind)
    if expected is None:
        return [f"{doc.where}: unexpected kind {doc.api_version} {doc.kind}"]
    if doc.api_version != expected:
        problems.append(f"{doc.where}: {doc.kind} must be apiVersion {expected}")
    name = doc.name
    pattern = DNS_LABEL if doc.kind in {"Namespace", "Service"} else DNS_SUBDOMAIN
    if not name or not pattern.match(name) or len(name) > 63:
        problems.append(f"{doc.where}: metadata.name {name!r} is not a valid {doc.kind} name")
    if doc.kind in {"ConfigMap", "Secret"}:
        for key in (body.get("data") or {}) | (body.get("stringData") or {}):
            if not re.match(r"^[-._a-zA-Z0-9]+$", str(key)):
                problems.append(f"{doc.where}: {doc.kind} key {key!r} is invalid")
        for key, value in (body.get("data") or {}).items():
            if doc.kind == "ConfigMap" and not isinstance(value, str):
                problems.append(f"{doc.where}: ConfigMap value of {key!r} must be a string")
    if doc.kind in {"Deployment", "Job"}:
        spec = body.get("spec") or {}
        template = spec.get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        if not containers:
            problems.append(f"{doc.where}: {doc.kind} has no containers")
        for c in containers:
            if not c.get("name") or not c.get("image"):
                problems.append(f"{doc.where}: every container needs name and image")
        if doc.kind == "Deployment":
            selector = (spec.get("selector") or {}).get("matchLabels") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                problems.append(f"{doc.where}: selector.matchLabels must match template labels")
    if doc.kind in {"RoleBinding", "ClusterRoleBinding"}:
        ref = body.get("roleRef") or {}
        if ref.get("apiGroup") != "rbac.authorization.k8s.io" or not ref.get("name"):
            problems.append(f"{doc.where}: roleRef needs apiGroup and name")
    if doc.kind in {"Role", "ClusterRole"}:
        for rule in body.get("rules") or []:
            if not rule.get("verbs") or not rule.get("resources"):
                problems.append(f"{doc.where}: every Role rule needs resources and verbs")
    return problems


def is_object(doc: Doc) -> bool:
    return (doc.api_version, doc.kind) not in NON_OBJECT_KINDS


def containers(doc: Doc) -> Iterator[dict[str, Any]]:
    """The containers of a Deployment, Job or Knative Service."""
    spec = ((doc.body.get("spec") or {}).get("template") or {}).get("spec") or {}
    yield from spec.get("containers") or []
    yield from spec.get("initContainers") or []


def knative_services(docs: Iterable[Doc]) -> dict[str, Doc]:
    return {
        d.name: d for d in docs if d.kind == "Service" and d.api_version == "serving.knative.dev/v1"
    }


def job_sinks(docs: Iterable[Doc]) -> dict[str, Doc]:
    """JobSinks by the function folder their image is built from (``coelho/<function>``)."""
    found = {}
    for doc in docs:
        if doc.kind == "JobSink" and doc.api_version == "sinks.knative.dev/v1alpha1":
            pod = doc.body["spec"]["job"]["spec"]["template"]["spec"]
            for container in pod["containers"]:
                found[container["image"].removeprefix("coelho/")] = doc
    return found


def job_pod(doc: Doc) -> dict[str, Any]:
    """The pod spec of a JobSink's Job template."""
    return doc.body["spec"]["job"]["spec"]["template"]["spec"]
