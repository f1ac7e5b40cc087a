"""Knative 1.23's own admission code on every manifest: tests/cluster/admission (a Go program
built from Knative Serving/Eventing v0.50.0 and func v0.50.1) defaults and validates each
object as the webhooks of a real cluster would, with the cluster's ConfigMaps.

The program is built once into .coelho/bin by `make test` (target `admission`); here `go
build` only relinks it if its sources changed. Without a Go toolchain these tests skip; with
one, a broken build fails them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import manifests
from tests.cluster.conftest import ADMISSION

SOURCE = Path(__file__).parent / "admission"
BINARY = manifests.REPO / ".coelho" / "bin" / "knative-admission"
BROKEN = SOURCE / "testdata" / "broken"
FIXTURES = sorted([*BROKEN.glob("*.yaml"), *BROKEN.glob("*/func.yaml")])
PROJECT_CONFIGS = [
    manifests.K3D / "manifests" / "10-knative-serving-config.yaml",
    manifests.K3D / "manifests" / "11-knative-eventing-config.yaml",
]
RENDERS = [manifests.KNATIVE / "base", *manifests.OVERLAYS]
Result = dict[str, Any]


def rel(path: Path) -> str:
    return str(path.relative_to(manifests.REPO))


@pytest.fixture(scope="session")
def go() -> str:
    found = shutil.which("go")
    if not found:
        pytest.skip("no Go toolchain (go not on PATH): Knative admission checks not run")
    return found


def go_output(go: str, *args: str) -> str:
    result = subprocess.run([go, *args], cwd=SOURCE, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, f"go {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="session")
def admission(go: str) -> str:
    """The checker's binary, (re)built with Go's caches: a no-op when `make admission` ran."""
    go_output(go, "build", "-buildvcs=false", "-o", str(BINARY), ".")
    return str(BINARY)


@pytest.fixture(scope="session")
def release_dirs(go: str, admission: str) -> list[str]:
    """Each module's config/core/configmaps: the default ConfigMaps of the release."""
    modules = ["knative.dev/serving", "knative.dev/eventing"]
    dirs = go_output(go, "list", "-m", "-f", "{{.Dir}}", *modules)
    return [str(Path(d) / "config" / "core" / "configmaps") for d in dirs.split()]


def run(
    admission: str, release_dirs: list[str], paths: Iterable[Path], with_configs: bool = False
) -> list[Result]:
    """Results of ``paths`` (and, ``with_configs``, of the project's ConfigMaps, which every
    run loads into the webhooks' configuration)."""
    args = [admission, "-json"]
    args += [arg for d in release_dirs for arg in ("-release", d)]
    args += [arg for c in PROJECT_CONFIGS for arg in ("-config", rel(c))]
    args += [rel(p) for p in paths]
    done = subprocess.run(args, cwd=manifests.REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), f"admission exited {done.returncode}:\n{done.stderr}"
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    results, summary = lines[:-1], lines[-1]
    assert (done.returncode == 1) == (summary["counts"].get("FAIL", 0) > 0)
    configs = {rel(c) for c in PROJECT_CONFIGS}
    return [r for r in results if with_configs or r["origin"] not in configs]


def tally(results: list[Result]) -> None:
    for r in results:
        ADMISSION[r["status"]] += 1
        ADMISSION["warnings"] += len(r.get("warnings") or [])
        if r["status"] == "SKIP" and r["message"].startswith("not checked by admission"):
            ADMISSION["unchecked"] += 1


def describe(results: list[Result]) -> str:
    return "\n".join(
        f"{r['status']} {r['origin']} {r['kind']} {r['name']}: {r.get('message', '')}"
        + "".join(f"\n    warning: {w}" for w in r.get("warnings") or [])
        for r in results
    )


def assert_admitted(results: list[Result]) -> None:
    """Nothing rejected, nothing warned about."""
    bad = [r for r in results if r["status"] == "FAIL" or r.get("warnings")]
    assert not bad, "Knative admission:\n" + describe(bad)


def test_eventing_func_yaml_and_knative_config_pass_admission(
    admission: str, release_dirs: list[str]
) -> None:
    results = run(
        admission,
        release_dirs,
        [manifests.EVENTING, *sorted(manifests.FUNCTIONS.glob("*/func.yaml"))],
        with_configs=True,
    )
    tally(results)
    assert_admitted(results)
    ok = {r["kind"] for r in results if r["status"] == "OK"}
    assert {"Broker", "Trigger", "PingSource", "func.yaml", "ConfigMap"} <= ok, describe(results)
    # The batch trainer's path: its Trigger (delivery, dead-letter sink) and its func.yaml are
    # admitted; Knative validates a JobSink by a dry-run create of its Job on the API server,
    # so here it is checked by its CRD schema and test_crosschecks instead.
    by_name = {(r["kind"], r["name"]): r for r in results}
    assert by_name[("Trigger", "coelho/train")]["status"] == "OK", describe(results)
    assert by_name[("JobSink", "coelho/train")]["status"] == "SKIP", describe(results)
    kafka_sources = [r for r in results if r["kind"] == "KafkaSource"]
    assert kafka_sources and all(
        r["status"] == "SKIP" and "not checked by admission" in r["message"] for r in kafka_sources
    )


def test_rendered_knative_pass_admission(
    admission: str, release_dirs: list[str], kubectl: str
) -> None:
    results = run(admission, release_dirs, RENDERS)
    tally(results)
    assert_admitted(results)
    services = [r for r in results if r["kind"] == "Service" and r["status"] != "SKIP"]
    per_render = len(manifests.knative_services(manifests.kustomize(RENDERS[1])))
    assert per_render and len(services) == len(RENDERS) * per_render
    assert all(r["status"] == "OK" for r in services)
    skipped = {r["kind"] for r in results if r["status"] == "SKIP"}
    assert "PodMonitor" in skipped, describe(results)


@pytest.fixture(scope="session")
def broken(admission: str, release_dirs: list[str]) -> dict[str, Result]:
    return {r["origin"]: r for r in run(admission, release_dirs, FIXTURES)}


def expectation(fixture: Path) -> str:
    found = re.search(r"^# expect: (.+)$", fixture.read_text(), re.MULTILINE)
    assert found, f"{fixture}: no '# expect: <text the error must contain>' line"
    return found.group(1)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: str(p.relative_to(BROKEN)))
def test_a_broken_manifest_fails_naming_the_field(fixture: Path, broken: dict[str, Result]) -> None:
    result = broken[rel(fixture)]
    assert result["status"] == "FAIL", describe([result])
    assert expectation(fixture) in result["message"], describe([result])
    ADMISSION["broken rejected"] += 1


def linked_modules(go: str, binary: str) -> dict[str, str]:
    """Module -> version linked into ``binary`` (a ``=>`` line replaces the ``dep`` above it)."""
    linked: dict[str, str] = {}
    module = ""
    for line in go_output(go, "version", "-m", binary).splitlines():
        fields = line.split()
        if fields[:1] == ["dep"]:
            module, linked[fields[1]] = fields[1], fields[2]
        elif fields[:1] == ["=>"]:
            linked[module] = fields[2]
    return linked


def module_requirements(go: str, module: str) -> dict[str, str]:
    mod_file = go_output(go, "list", "-m", "-f", "{{.GoMod}}", module).strip()
    edit = json.loads(go_output(go, "mod", "edit", "-json", mod_file))
    return {r["Path"]: r["Version"] for r in edit["Require"]}


def test_built_from_the_knative_release_of_k3d_versions(go: str, admission: str) -> None:
    """The Knative modules match k3d/versions.env (knative-v1.X.Y is module v0.(X+27).Y), and
    every library the webhooks' modules share with func is at the webhooks' own version."""
    versions = manifests.K3D / "versions.env"
    env = dict(line.split("=", 1) for line in versions.read_text().splitlines() if "=" in line)

    def module_version(release: str) -> str:
        major, minor, patch = re.fullmatch(r"knative-v(\d+)\.(\d+)\.(\d+)", release).groups()
        assert major == "1", release
        return f"v0.{int(minor) + 27}.{patch}"

    linked = linked_modules(go, admission)
    assert linked["knative.dev/serving"] == module_version(env["KNATIVE_SERVING_VERSION"])
    assert linked["knative.dev/eventing"] == module_version(env["KNATIVE_EVENTING_VERSION"])
    assert linked["knative.dev/func"] == module_version(env["FUNC_VERSION"])

    wanted = [module_requirements(go, m) for m in ("knative.dev/serving", "knative.dev/eventing")]
    drifted = {
        module: (version, [w[module] for w in wanted if module in w])
        for module, version in linked.items()
        if any(module in w for w in wanted) and all(w.get(module) != version for w in wanted)
    }
    assert not drifted, f"pin these in {rel(SOURCE / 'go.mod')} (linked, required): {drifted}"
