"""Every YAML document the project applies is valid: against its CRD's JSON schema when one
exists, structurally otherwise (core kinds: apiVersion, kind, metadata.name and the fields the
project relies on). Sources: every file under knative/, eventing/ and k3d/, every rendered
kustomization, and the exact output `make deploy` applies.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.cluster import manifests
from tests.cluster.conftest import VALIDATED

FILES = manifests.yaml_files(manifests.KNATIVE, manifests.EVENTING, manifests.K3D)
# Files that are not Kubernetes objects; each has its own test (test_k3d.py).
NOT_OBJECTS = {manifests.K3D / "cluster.yaml", *manifests.K3D.glob("helm/*.yaml")}
RENDERS = [manifests.KNATIVE / "base", *manifests.OVERLAYS]


def check(docs: list[manifests.Doc], schemas: Path) -> list[str]:
    """Problems of every document; counts what was validated for the summary line."""
    problems: list[str] = []
    for doc in docs:
        if isinstance(doc.body, list):  # a kustomize JSON6902 patch file
            problems += json_patch_problems(doc)
            VALIDATED["structural"] += 1
        elif not isinstance(doc.body, dict) or not doc.api_version or not doc.kind:
            problems.append(f"{doc.where}: not a Kubernetes object (apiVersion/kind missing)")
        elif not manifests.is_object(doc):
            continue
        elif manifests.schema_path(doc, schemas) is None:
            problems += manifests.check_core(doc)
            VALIDATED["structural"] += 1
        else:
            problems += manifests.schema_errors(doc, schemas)
            VALIDATED["schema"] += 1
    return problems


def json_patch_problems(doc: manifests.Doc) -> list[str]:
    ops = {"add", "remove", "replace", "move", "copy", "test"}
    problems = []
    for i, op in enumerate(doc.body):
        if not isinstance(op, dict) or op.get("op") not in ops:
            problems.append(f"{doc.where}: operation {i} needs op in {sorted(ops)}")
        elif not str(op.get("path", "")).startswith("/"):
            problems.append(f"{doc.where}: operation {i} needs a /path")
        elif op["op"] in {"add", "replace", "test"} and "value" not in op:
            problems.append(f"{doc.where}: operation {i} ({op['op']}) needs a value")
    return problems


def test_there_is_something_to_validate() -> None:
    names = {p.relative_to(manifests.REPO).as_posix() for p in FILES}
    assert "knative/base/kustomization.yaml" in names
    assert "eventing/300-triggers.yaml" in names
    assert any(n.startswith("k3d/manifests/") for n in names)
    assert RENDERS[1:], "no overlay under knative/overlays/"


@pytest.mark.parametrize(
    "path",
    [p for p in FILES if p not in NOT_OBJECTS],
    ids=lambda p: str(p.relative_to(manifests.REPO)),
)
def test_file(path: Path, schemas: Path) -> None:
    docs = manifests.file_docs(path)
    assert docs, f"{path}: no YAML document"
    assert check(docs, schemas) == []


@pytest.mark.parametrize("folder", RENDERS, ids=lambda p: str(p.relative_to(manifests.REPO)))
def test_rendered_kustomization(folder: Path, schemas: Path, kubectl: str) -> None:
    docs = manifests.kustomize(folder)
    assert docs
    assert check(docs, schemas) == []


def test_what_make_deploy_applies(schemas: Path, kubectl: str, deploy: ModuleType) -> None:
    """deploy.render with a tag for every Service and the producer image: the overlay plus
    eventing/, all valid, every image of ours tagged."""
    names = set(manifests.knative_services(manifests.kustomize(RENDERS[1])))
    names |= set(manifests.job_sinks(manifests.file_docs(manifests.EVENTING / "500-train.yaml")))
    docs, skipped = deploy.render({name: "0123456789ab" for name in names | {"producer"}})
    assert skipped == []
    rendered = [manifests.Doc("k3d/deploy.py render", i, d) for i, d in enumerate(docs)]
    assert check(rendered, schemas) == []
    images = [c["image"] for c in manifests_containers(rendered)]
    assert images and all(i.endswith(":0123456789ab") for i in images), images
    assert sum("/coelho/producer:" in i for i in images) == 3
    kinds = {d.kind for d in rendered}
    assert {
        "Broker",
        "Trigger",
        "KafkaSource",
        "Service",
        "PodMonitor",
        "Deployment",
        "JobSink",
    } <= kinds


def test_deploy_skips_producers_without_their_image(deploy: ModuleType) -> None:
    names = set(manifests.knative_services(manifests.kustomize(RENDERS[1])))
    names |= set(manifests.job_sinks(manifests.file_docs(manifests.EVENTING / "500-train.yaml")))
    docs, skipped = deploy.render({name: "0123456789ab" for name in names})
    assert sorted(skipped) == ["producer-ecci", "producer-eta", "producer-tfd"]
    assert not [d for d in docs if d.get("kind") == "Deployment"]


def manifests_containers(docs: list[manifests.Doc]) -> list[dict[str, str]]:
    """Containers of our Knative Services, Deployments (the producers) and JobSinks."""
    return [c for d in docs
            if (d.kind == "Service" and d.api_version.startswith("serving."))
            or (d.kind == "Deployment"
                and (d.body["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of")
                == "coelho")
            for c in manifests.containers(d)] + [
        c for d in docs if d.kind == "JobSink" for c in manifests.job_pod(d)["containers"]
    ]  # fmt: skip


def test_a_schema_violation_is_reported(schemas: Path) -> None:
    """The validator is live: a Knative Service with two container ports is rejected."""
    body = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"template": {"spec": {"containers": [{"image": "x", "bogus": 1}]}}},
    }
    problems = manifests.schema_errors(manifests.Doc("test", 0, body), schemas)
    assert any("bogus" in p for p in problems), problems


def test_a_structural_problem_is_reported() -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "Bad_Name"}}
    assert manifests.check_core(manifests.Doc("test", 0, body))
