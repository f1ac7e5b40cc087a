"""Cluster-face tests: every test here is marked ``cluster`` and runs offline.

Shared fixtures: the JSON schema folder (skip when absent), ``k3d/versions.env`` and the
documents of every manifest source. The number of documents validated against a schema or
checked structurally is reported at the end of the run.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from tests.cluster import manifests

VALIDATED: dict[str, int] = {"schema": 0, "structural": 0}
# Results of Knative's own admission code (test_admission.py), by status.
ADMISSION: Counter[str] = Counter()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.cluster)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if any(VALIDATED.values()):
        terminalreporter.write_line(
            f"cluster manifests: {VALIDATED['schema']} documents validated against JSON "
            f"schemas, {VALIDATED['structural']} core documents checked structurally"
        )
    if ADMISSION:
        a = ADMISSION
        terminalreporter.write_line(
            f"knative admission: {a['OK'] + a['FAIL'] + a['SKIP']} objects, {a['OK']} OK, "
            f"{a['FAIL']} failed, {a['SKIP']} skipped ({a['unchecked']} not checked by "
            f"admission), {a['warnings']} warnings; {a['broken rejected']} broken fixtures "
            "rejected as expected"
        )


@pytest.fixture(scope="session")
def schemas() -> Path:
    root = manifests.schemas_dir()
    if not (root / "serving.knative.dev").is_dir():
        pytest.skip(f"no CRD JSON schemas at {root} (set COELHO_K8S_SCHEMAS)")
    return root


def load_script(name: str) -> ModuleType:
    """Import ``k3d/<name>.py`` (a folder of scripts, not a package)."""
    path = manifests.K3D / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"k3d_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def deploy() -> ModuleType:
    return load_script("deploy")


@pytest.fixture(scope="session")
def vendor() -> ModuleType:
    return load_script("vendor")


@pytest.fixture(scope="session")
def versions(deploy: ModuleType) -> dict[str, str]:
    return deploy.load_versions()


def require_tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} not on PATH")
    return found


@pytest.fixture(scope="session")
def kubectl() -> str:
    return require_tool("kubectl")


@pytest.fixture(scope="session")
def base_docs(kubectl: str) -> list[manifests.Doc]:
    return manifests.kustomize(manifests.KNATIVE / "base")


@pytest.fixture(scope="session")
def overlay_docs(kubectl: str) -> dict[str, list[manifests.Doc]]:
    return {o.name: manifests.kustomize(o) for o in manifests.OVERLAYS}


@pytest.fixture(scope="session")
def eventing_docs() -> list[manifests.Doc]:
    return [d for p in manifests.yaml_files(manifests.EVENTING) for d in manifests.file_docs(p)]


@pytest.fixture(scope="session")
def k3d_docs() -> list[manifests.Doc]:
    return [
        d for p in manifests.yaml_files(manifests.K3D / "manifests") for d in manifests.file_docs(p)
    ]
