"""functions/*/func.yaml: valid for Knative func, built by Google's buildpacks (never func's
python scaffolding), and in step with the Knative Service knative/ deploys for the function.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from tests.cluster import manifests
from tests.cluster.manifests import Doc

FUNC_YAMLS = sorted(manifests.FUNCTIONS.glob("*/func.yaml"))
TEMPLATE = re.compile(r"^\{\{ (secret|configMap):([a-z0-9-]+):([A-Za-z0-9_]+) \}\}$")
SCALE = {"min": "min-scale", "max": "max-scale", "target": "target", "metric": "metric"}


@pytest.fixture(scope="module")
def validator(schemas: Path) -> Draft4Validator:
    path = schemas / "func" / "func_yaml-schema.json"
    if not path.is_file():
        pytest.skip(f"no func.yaml schema at {path}")
    return Draft4Validator(json.loads(path.read_text()))


def load(path: Path) -> dict[str, Any]:
    return manifests.load_yaml(path.read_text())


def test_every_function_folder_has_a_func_yaml() -> None:
    folders = {p.name for p in manifests.FUNCTIONS.iterdir() if p.is_dir()}
    assert folders == {p.parent.name for p in FUNC_YAMLS}
    assert len(folders) == 11


@pytest.mark.parametrize("path", FUNC_YAMLS, ids=lambda p: p.parent.name)
def test_func_yaml_is_valid(path: Path, validator: Draft4Validator) -> None:
    errors = [
        f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(load(path))
    ]
    assert errors == []


def test_the_func_schema_rejects_a_bad_file(validator: Draft4Validator) -> None:
    assert list(validator.iter_errors({"specVersion": "0.36.0", "build": {"builder": "host"}}))


@pytest.mark.parametrize("path", FUNC_YAMLS, ids=lambda p: p.parent.name)
def test_func_yaml_builds_with_googles_buildpacks(
    path: Path, versions: dict[str, str], eventing_docs: list[Doc]
) -> None:
    spec = load(path)
    assert spec["name"] == path.parent.name
    assert spec["specVersion"] == "0.36.0"
    assert spec["runtime"] not in {"python", "go"}, "func would inject its own scaffolding"
    assert spec["namespace"] == spec["deploy"]["namespace"] == "coelho"
    assert spec["registry"] == f"{versions['REGISTRY_NAME']}:{versions['REGISTRY_PORT']}/coelho"
    build = spec["build"]
    assert build["builder"] == "pack"
    assert build["builderImages"]["pack"] == versions["PACK_BUILDER_IMAGE"]
    envs = {e["name"]: e["value"] for e in build["buildEnvs"]}
    if spec["name"] in manifests.job_sinks(eventing_docs):
        # A job: the image runs `python main.py` to the end; no HTTP, no health endpoints.
        assert envs == {"GOOGLE_ENTRYPOINT": "python main.py",
                        "GOOGLE_PYTHON_VERSION": versions["PYTHON_VERSION"]}  # fmt: skip
        assert "healthEndpoints" not in spec["deploy"] and "invoke" not in spec
        return
    assert envs == {
        "GOOGLE_FUNCTION_TARGET": "main",
        "GOOGLE_FUNCTION_SIGNATURE_TYPE": "http",
        "GOOGLE_PYTHON_VERSION": versions["PYTHON_VERSION"],
    }
    assert spec["deploy"]["healthEndpoints"] == {
        "liveness": "/health/liveness",
        "readiness": "/health/readiness",
    }


def knative_env(doc: Doc) -> dict[str, tuple[str, str, str]]:
    """env name -> (secret|configMap, object, key), from env refs and envFrom ConfigMaps."""
    (container,) = manifests.containers(doc)
    found: dict[str, tuple[str, str, str]] = {}
    for entry in container.get("env") or []:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            found[entry["name"]] = ("secret", ref["name"], ref["key"])
    return found


@pytest.mark.parametrize("path", FUNC_YAMLS, ids=lambda p: p.parent.name)
def test_func_yaml_matches_the_knative_service(
    path: Path,
    overlay_docs: dict[str, list[Doc]],
    base_docs: list[Doc],
    eventing_docs: list[Doc],
) -> None:
    """`func deploy` and `make deploy` must produce the same scaling, visibility and env."""
    spec = load(path)
    if spec["name"] in manifests.job_sinks(eventing_docs):
        pytest.skip("a job, not a Service: test_func_yaml_matches_the_job_sink checks it")
    service = manifests.knative_services(overlay_docs["k3d"])[spec["name"]]
    template = service.body["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    for key, annotation in SCALE.items():
        value = spec["deploy"]["options"]["scale"].get(key)
        knative = annotations.get(f"autoscaling.knative.dev/{annotation}")
        assert (None if value is None else str(value)) == knative, f"scale.{key}"
    resources = template["spec"]["containers"][0]["resources"]
    assert spec["deploy"]["options"]["resources"] == resources
    labels = {label["key"]: label["value"] for label in spec["deploy"]["labels"]}
    service_labels = service.body["metadata"]["labels"]
    visibility = "networking.knative.dev/visibility"
    assert labels.get(visibility) == service_labels.get(visibility)
    envs = {e["name"]: e["value"] for e in spec["run"]["envs"]}
    secrets = {}
    config_map = {d.name: d.body["data"] for d in base_docs if d.kind == "ConfigMap"}
    for name, value in envs.items():
        match = TEMPLATE.match(value)
        assert match, f"{name}: func.yaml env values must reference a Secret or ConfigMap"
        kind, obj, key = match.groups()
        if kind == "secret":
            secrets[name] = ("secret", obj, key)
        else:
            assert key in config_map[obj], f"{name}: no key {key} in ConfigMap {obj}"
    assert secrets == knative_env(service)


def test_func_yaml_matches_the_job_sink(base_docs: list[Doc], eventing_docs: list[Doc]) -> None:
    """A job's func.yaml run env is the JobSink container's: same Secrets, same ConfigMap keys."""
    jobs = manifests.job_sinks(eventing_docs)
    assert jobs
    config_map = {d.name: d.body["data"] for d in base_docs if d.kind == "ConfigMap"}
    for name, doc in jobs.items():
        spec = load(manifests.FUNCTIONS / name / "func.yaml")
        (container,) = manifests.job_pod(doc)["containers"]
        (source,) = container["envFrom"]
        maps = config_map[source["configMapRef"]["name"]]
        secrets = {}
        for entry in spec["run"]["envs"]:
            match = TEMPLATE.match(entry["value"])
            assert match, f"{name} {entry['name']}: must reference a Secret or ConfigMap"
            kind, obj, key = match.groups()
            if kind == "secret":
                secrets[entry["name"]] = ("secret", obj, key)
            else:
                assert key in maps, f"{name} {entry['name']}: no key {key} in ConfigMap"
        job_secrets = {
            e["name"]: ("secret", e["valueFrom"]["secretKeyRef"]["name"],
                        e["valueFrom"]["secretKeyRef"]["key"])
            for e in container.get("env") or [] if "valueFrom" in e
        }  # fmt: skip
        assert secrets == job_secrets, name
