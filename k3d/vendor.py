"""Put the shared package ``coelho`` inside every function folder, so each is a build context.

An image builder (Google's buildpacks via ``func build`` or ``pack build``) sees only
``functions/<name>/``, yet every function imports ``coelho`` from ``shared/``. This script
builds ``coelho`` once as a pure-Python wheel and copies it to ``functions/<name>/vendor/``
(gitignored); each ``requirements.txt`` installs it with the line ``./vendor/<wheel>``.

The wheel carries code only, no ``Requires-Dist``: a function's ``requirements.txt`` stays the
whole list of what its image installs, so a learn image does not pull MLflow and Dash just
because the development install of the package needs them. The wheel is assembled here
(zip + dist-info, fixed timestamps) rather than by a build backend: no network, no build
isolation, and identical bytes for identical sources, so image layers are reused.

Usage::

    python k3d/vendor.py                   # every functions/<name>/ with a requirements.txt
    python k3d/vendor.py learn-tfd snapshot
    python k3d/vendor.py --wheel-dir DIR   # only build the wheel into DIR (dash image)
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import shutil
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest timestamp a zip entry can hold


class VendorError(RuntimeError):
    """A function folder cannot be vendored; the message names the file to fix."""


def project_metadata(repo: Path = REPO) -> tuple[str, str, str, list[str]]:
    """(name, version, requires-python, package-data globs) from ``pyproject.toml``."""
    pyproject = repo / "pyproject.toml"
    data = tomllib.loads(pyproject.read_text())
    project = data.get("project", {})
    try:
        name, version = project["name"], project["version"]
    except KeyError as exc:
        raise VendorError(f"{pyproject}: [project] lacks {exc.args[0]!r}") from exc
    package_data = data.get("tool", {}).get("setuptools", {}).get("package-data", {})
    return name, version, project.get("requires-python", ""), list(package_data.get(name, []))


def wheel_name(repo: Path = REPO) -> str:
    """File name of the wheel ``build_wheel`` writes, e.g. ``coelho-0.1.0-py3-none-any.whl``."""
    name, version, _, _ = project_metadata(repo)
    return f"{name}-{version}-py3-none-any.whl"


def requirement_line(repo: Path = REPO) -> str:
    """The line every function's ``requirements.txt`` must contain."""
    return f"./vendor/{wheel_name(repo)}"


def _package_files(package_dir: Path, data_globs: list[str]) -> list[Path]:
    files = []
    for path in sorted(package_dir.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(package_dir).as_posix()
        if path.suffix == ".py" or any(fnmatch.fnmatch(relative, g) for g in data_globs):
            files.append(path)
    return files


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"


def build_wheel(out_dir: Path, repo: Path = REPO) -> Path:
    """Write the code-only wheel of ``shared/<name>`` into ``out_dir``; return its path."""
    name, version, requires_python, data_globs = project_metadata(repo)
    package_dir = repo / "shared" / name
    if not (package_dir / "__init__.py").is_file():
        raise VendorError(f"{package_dir}: not a package (no __init__.py)")
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    if requires_python:
        metadata += f"Requires-Python: {requires_python}\n"
    entries: list[tuple[str, bytes]] = [
        (f"{name}/{p.relative_to(package_dir).as_posix()}", p.read_bytes())
        for p in _package_files(package_dir, data_globs)
    ]
    entries += [
        (f"{dist_info}/METADATA", metadata.encode()),
        (
            f"{dist_info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: coelho-k3d-vendor\n"
            b"Root-Is-Purelib: true\nTag: py3-none-any\n",
        ),
    ]
    record = "".join(f"{arc},{_record_hash(data)},{len(data)}\n" for arc, data in entries)
    entries.append((f"{dist_info}/RECORD", (record + f"{dist_info}/RECORD,,\n").encode()))

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / wheel_name(repo)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return target


def function_dirs(repo: Path = REPO, names: list[str] | None = None) -> list[Path]:
    """``functions/<name>/`` folders to vendor: the named ones, else all with requirements."""
    root = repo / "functions"
    if names:
        dirs = [root / n for n in names]
        for d in dirs:
            if not (d / "requirements.txt").is_file():
                raise VendorError(f"{d / 'requirements.txt'}: missing, nothing to vendor into")
        return dirs
    return sorted(p.parent for p in root.glob("*/requirements.txt"))


def check_requirements(function_dir: Path, repo: Path = REPO) -> None:
    """Fail unless ``requirements.txt`` installs exactly the wheel this script builds."""
    requirements = function_dir / "requirements.txt"
    expected = requirement_line(repo)
    lines = [line.strip() for line in requirements.read_text().splitlines()]
    vendored = [line for line in lines if line.startswith("./vendor/")]
    if vendored != [expected]:
        found = ", ".join(vendored) or "no ./vendor/ line"
        raise VendorError(f"{requirements}: needs the line {expected!r} (found: {found})")


def vendor(function_dirs_: list[Path], repo: Path = REPO) -> Path:
    """Build the wheel once and place it, alone, in each ``<function>/vendor/``."""
    for function_dir in function_dirs_:
        check_requirements(function_dir, repo)
    staging = repo / ".coelho" / "build" / "vendor"
    shutil.rmtree(staging, ignore_errors=True)
    wheel = build_wheel(staging, repo)
    for function_dir in function_dirs_:
        vendor_dir = function_dir / "vendor"
        shutil.rmtree(vendor_dir, ignore_errors=True)  # no stale wheel of an older version
        vendor_dir.mkdir()
        shutil.copy2(wheel, vendor_dir / wheel.name)
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("functions", nargs="*", help="function folder names (default: all)")
    parser.add_argument("--wheel-dir", type=Path, help="only build the wheel into this folder")
    args = parser.parse_args(argv)
    try:
        if args.wheel_dir is not None:
            print(build_wheel(args.wheel_dir))
            return 0
        dirs = function_dirs(REPO, args.functions)
        wheel = vendor(dirs)
    except VendorError as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 1
    for d in dirs:
        print(f"vendor: {d.relative_to(REPO)}/vendor/{wheel.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
