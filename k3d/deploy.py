"""Build, push and apply the project on the k3d cluster (``make deploy``).

For every ``functions/<name>/`` that has a ``main.py`` (and for the dashboard, when
``dash_app/__main__.py`` exists, and for the producers): vendor ``coelho`` into the build
context, build the image with Google's buildpacks as declared in ``func.yaml`` (``pack
build``, or ``func build`` with ``--builder func``), push it to the k3d registry, then render
``knative/overlays/k3d`` with each image's tag, add ``eventing/*.yaml`` and apply it all.

Tags are content hashes of the build context: an unchanged function keeps its tag, so
Knative starts no new revision; a changed one gets a new tag. That matters because Serving
skips tag resolution for the k3d registry, so re-pushing the same tag would never roll out.
Services whose function has no source yet are left out of the apply, and said so.

``--dry-run`` runs nothing against docker or the cluster: it prints the commands and writes
the rendered manifests (tests/cluster validates exactly this output).
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vendor  # noqa: E402  (k3d/ is a folder of scripts, not a package)

REPO = Path(__file__).resolve().parents[1]
OVERLAY = REPO / "knative" / "overlays" / "k3d"
EVENTING = REPO / "eventing"
STAGE = REPO / ".coelho" / "build" / "k3d"
IGNORED_PARTS = {"__pycache__", ".func", ".git", ".pytest_cache"}
DASH_ENTRYPOINT = "python -m dash_app"
PRODUCER_ENTRYPOINT = "python -m coelho.producer --help"


class DeployError(RuntimeError):
    """Something the deployment needs is missing; the message names the file or command."""


def load_versions(path: Path = REPO / "k3d" / "versions.env") -> dict[str, str]:
    """``KEY=value`` lines of ``k3d/versions.env`` (comments and blanks skipped)."""
    values = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.isidentifier():
            raise DeployError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        values[key] = value
    return values


def context_tag(context: Path) -> str:
    """First 12 hex digits of a SHA-256 over every file path and content in ``context``."""
    digest = hashlib.sha256()
    for path in sorted(context.rglob("*")):
        relative = path.relative_to(context)
        if not path.is_file() or IGNORED_PARTS & set(relative.parts) or path.suffix == ".pyc":
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class ImageBuild:
    """One image: its build context, builder settings and where it is pushed."""

    name: str
    context: Path
    builder_image: str
    build_env: dict[str, str]
    push_ref: str  # as seen from the host: localhost:<port>/coelho/<name>:<tag>
    tag: str
    func_yaml: bool = field(default=True)

    def commands(self, builder: str) -> list[list[str]]:
        """The argv lists that build and push this image."""
        if builder == "func" and self.func_yaml:
            build = ["func", "build", "--path", str(self.context), "--builder", "pack"]
            build += ["--image", self.push_ref]
        else:
            build = ["pack", "build", self.push_ref, "--builder", self.builder_image]
            build += ["--path", str(self.context), "--pull-policy", "if-not-present"]
            for key, value in sorted(self.build_env.items()):
                build += ["--env", f"{key}={value}"]
        return [build, ["docker", "push", self.push_ref]]


def read_func_yaml(function_dir: Path) -> tuple[str, dict[str, str]]:
    """(pack builder image, build environment) declared in ``<function>/func.yaml``."""
    path = function_dir / "func.yaml"
    if not path.is_file():
        raise DeployError(f"{path}: missing; every function declares its build there")
    spec = yaml.safe_load(path.read_text()) or {}
    build = spec.get("build") or {}
    image = (build.get("builderImages") or {}).get("pack")
    if not image:
        raise DeployError(f"{path}: build.builderImages.pack is required")
    envs = {e["name"]: str(e.get("value", "")) for e in build.get("buildEnvs") or []}
    return image, envs


def source_dirs(names: Iterable[str] | None = None) -> list[Path]:
    """``functions/<name>/`` folders that have a ``main.py``, optionally only the named ones."""
    wanted = set(names or [])
    dirs = [main.parent for main in sorted((REPO / "functions").glob("*/main.py"))]
    unknown = wanted - {d.name for d in dirs}
    if unknown:
        raise DeployError(f"no functions/<name>/main.py for: {', '.join(sorted(unknown))}")
    return [d for d in dirs if not wanted or d.name in wanted]


def function_build(function_dir: Path, versions: dict[str, str]) -> ImageBuild:
    """The ``ImageBuild`` of one function folder (vendor it first: the wheel is in the tag)."""
    image, envs = read_func_yaml(function_dir)
    tag = context_tag(function_dir)
    push = f"localhost:{versions['REGISTRY_PORT']}/coelho/{function_dir.name}:{tag}"
    return ImageBuild(function_dir.name, function_dir, image, envs, push, tag)


def requirements(extras: Iterable[str], pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The project's core dependencies plus those of ``extras``, self-references expanded.

    ``coelho[mlflow,dash]`` inside an extra pulls those extras in; order is kept, no repeats.
    """
    project = tomllib.loads(pyproject.read_text())["project"]
    name, optional = project["name"], project.get("optional-dependencies", {})
    found: list[str] = []

    def add(items: Iterable[str]) -> None:
        for item in items:
            if item.startswith(f"{name}["):
                nested = item[len(name) + 1 :].rstrip("]").split(",")
                add(dep for extra in nested for dep in optional[extra.strip()])
            elif item not in found:
                found.append(item)

    add(project["dependencies"])
    for extra in extras:
        if extra not in optional:
            raise DeployError(f"{pyproject}: no optional dependency group {extra!r}")
        add(optional[extra])
    return found


def stage_dash(versions: dict[str, str], stage: Path = STAGE / "dash") -> ImageBuild | None:
    """Assemble the dashboard's build context (dash_app/ + wheel + requirements) in ``stage``.

    The code-only wheel has no dependencies, so the dashboard's requirements are the
    project's core dependencies and its ``dash`` extra, from pyproject.toml, plus the wheel.
    """
    if not (REPO / "dash_app" / "__main__.py").is_file():
        return None
    shutil.rmtree(stage, ignore_errors=True)
    shutil.copytree(
        REPO / "dash_app", stage / "dash_app", ignore=shutil.ignore_patterns("__pycache__")
    )
    wheel = vendor.build_wheel(stage / "vendor")
    lines = [*requirements(["dash"]), f"./vendor/{wheel.name}"]
    (stage / "requirements.txt").write_text("\n".join(lines) + "\n")
    tag = context_tag(stage)
    env = {
        "GOOGLE_ENTRYPOINT": DASH_ENTRYPOINT,
        "GOOGLE_PYTHON_VERSION": versions["PYTHON_VERSION"],
    }
    push = f"localhost:{versions['REGISTRY_PORT']}/coelho/dash:{tag}"
    return ImageBuild("dash", stage, versions["PACK_BUILDER_IMAGE"], env, push, tag, False)


def stage_producer(versions: dict[str, str], stage: Path = STAGE / "producer") -> ImageBuild:
    """The producers' build context: the wheel and the core + ``producer`` requirements.

    No code of its own: the Deployments (knative/base/producers.yaml) run ``python -m
    coelho.producer <domain>`` through the buildpack launcher, so the entrypoint below only
    matters for a bare ``docker run`` (it prints the producer's usage)."""
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    wheel = vendor.build_wheel(stage / "vendor")
    lines = [*requirements(["producer"]), f"./vendor/{wheel.name}"]
    (stage / "requirements.txt").write_text("\n".join(lines) + "\n")
    tag = context_tag(stage)
    env = {
        "GOOGLE_ENTRYPOINT": PRODUCER_ENTRYPOINT,
        "GOOGLE_PYTHON_VERSION": versions["PYTHON_VERSION"],
    }
    push = f"localhost:{versions['REGISTRY_PORT']}/coelho/producer:{tag}"
    return ImageBuild("producer", stage, versions["PACK_BUILDER_IMAGE"], env, push, tag, False)


def kustomize(overlay: Path = OVERLAY, kubectl: str = "kubectl") -> list[dict[str, Any]]:
    """The overlay rendered by ``kubectl kustomize`` (offline), as a list of documents."""
    try:
        result = subprocess.run(
            [kubectl, "kustomize", str(overlay)], check=True, capture_output=True, text=True
        )
    except FileNotFoundError as exc:
        raise DeployError(f"{kubectl}: not found; it renders {overlay}") from exc
    except subprocess.CalledProcessError as exc:
        raise DeployError(f"kubectl kustomize {overlay} failed:\n{exc.stderr}") from exc
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def eventing_docs(folder: Path = EVENTING) -> list[dict[str, Any]]:
    """Every document of ``eventing/*.yaml`` in file order."""
    docs = []
    for path in sorted(folder.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def render(
    tags: dict[str, str],
    overlay: Path = OVERLAY,
    kubectl: str = "kubectl",
    registry: str | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """(documents to apply, names of Services and JobSinks left out because no image was built).

    Each Knative Service's image keeps the repository the overlay gives it and gets the tag
    of the image just built for it. A JobSink (eventing/, read by the local emulator too, so
    outside the overlay) gets ``<registry>/coelho/<function>:<tag>`` for its ``coelho/<function>``
    placeholder; without that image it is left out, with the Triggers that deliver to it.
    """
    if registry is None:
        versions = load_versions()
        registry = f"{versions['REGISTRY_NAME']}:{versions['REGISTRY_PORT']}"
    docs, skipped = [], []
    for doc in kustomize(overlay, kubectl):
        if doc.get("kind") == "Deployment" and _is_ours(doc):  # the producers
            name = doc["metadata"]["name"]
            container = doc["spec"]["template"]["spec"]["containers"][0]
            repository = container["image"].rsplit(":", 1)[0]
            image = repository.rsplit("/", 1)[-1]
            if image not in tags:
                skipped.append(name)
                continue
            container["image"] = f"{repository}:{tags[image]}"
        elif doc.get("kind") == "Service" and doc.get("apiVersion") == "serving.knative.dev/v1":
            name = doc["metadata"]["name"]
            if name not in tags:
                skipped.append(name)
                continue
            container = doc["spec"]["template"]["spec"]["containers"][0]
            repository = container["image"].rsplit(":", 1)[0]
            container["image"] = f"{repository}:{tags[name]}"
        docs.append(doc)
    events, left_out = [], set()
    for doc in eventing_docs():
        if doc.get("kind") == "JobSink":
            pod = doc["spec"]["job"]["spec"]["template"]["spec"]
            images = [c["image"].removeprefix("coelho/") for c in pod["containers"]]
            if not all(image in tags for image in images):
                skipped.append(doc["metadata"]["name"])
                left_out.add(doc["metadata"]["name"])
                continue
            for container, image in zip(pod["containers"], images, strict=True):
                container["image"] = f"{registry}/coelho/{image}:{tags[image]}"
        events.append(doc)
    events = [d for d in events if _subscriber(d) not in left_out]
    return docs + events, skipped


def _subscriber(doc: dict[str, Any]) -> str | None:
    """The JobSink a Trigger delivers to, if any."""
    ref = ((doc.get("spec") or {}).get("subscriber") or {}).get("ref") or {}
    return (
        ref.get("name") if doc.get("kind") == "Trigger" and ref.get("kind") == "JobSink" else None
    )


def _is_ours(doc: dict[str, Any]) -> bool:
    labels = (doc.get("metadata") or {}).get("labels") or {}
    return bool(labels.get("app.kubernetes.io/part-of") == "coelho")


def run(argv: list[str], dry_run: bool, stdin: str | None = None) -> None:
    print("+", shlex.join(argv), flush=True)
    if dry_run:
        return
    try:
        subprocess.run(argv, check=True, input=stdin, text=True)
    except FileNotFoundError as exc:
        raise DeployError(f"{argv[0]}: not found (see k3d/README.md, Prerequisites)") from exc
    except subprocess.CalledProcessError as exc:
        raise DeployError(f"failed ({exc.returncode}): {shlex.join(argv)}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", help="only these functions (default: all)")
    parser.add_argument("--builder", choices=("pack", "func"), default="pack")
    parser.add_argument("--dry-run", action="store_true", help="print, build and apply nothing")
    parser.add_argument("--out", type=Path, help="also write the rendered manifests here")
    parser.add_argument("--no-dash", action="store_true", help="skip the dashboard image")
    parser.add_argument("--no-producers", action="store_true", help="skip the producer image")
    args = parser.parse_args(argv)
    try:
        versions = load_versions()
        context = f"k3d-{versions['CLUSTER_NAME']}"
        dirs = source_dirs(args.functions)
        if dirs:
            vendor.vendor(dirs)
        builds = [function_build(d, versions) for d in dirs]
        dash = None if args.no_dash or args.functions else stage_dash(versions)
        if dash is not None:
            builds.append(dash)
        if not args.functions and not args.no_producers:
            builds.append(stage_producer(versions))
        for build in builds:
            for command in build.commands(args.builder):
                run(command, args.dry_run)
        docs, skipped = render({b.name: b.tag for b in builds})
        manifest = yaml.safe_dump_all(docs, sort_keys=False)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(manifest)
            print(f"rendered {len(docs)} documents to {args.out}")
        if skipped:
            print("not applied (no function source yet):", ", ".join(sorted(skipped)))
        run(["kubectl", "--context", context, "apply", "-f", "-"], args.dry_run, manifest)
        ready = ["kubectl", "--context", context, "wait", "ksvc", "--all", "-n", "coelho"]
        run([*ready, "--for=condition=Ready", "--timeout=600s"], args.dry_run)
    except (DeployError, vendor.VendorError) as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
