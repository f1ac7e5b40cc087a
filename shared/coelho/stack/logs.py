"""The local stack's footprint on disk: component logs rotated by size, directory sizes.

Every component writes its stdout and stderr to ``logs/<name>.log`` through a descriptor opened
in append mode (``coelho.stack.processes.Child``), which it keeps for its whole life, so a log
cannot be renamed away from it. Rotation is therefore copy-then-truncate (logrotate's
``copytruncate``): ``x.log`` is copied to ``x.log.1`` (older copies shift to ``.2`` ...,
the last dropped) and truncated in place; the child's next write lands at the new end, because
append mode always writes at the end. Lines written between the copy and the truncation (a
few milliseconds) are lost; that is the price of not restarting the child.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def rotate(path: Path, max_bytes: int, keep: int) -> bool:
    """Rotate ``path`` if it reached ``max_bytes``; True if it did. ``keep`` copies stay."""
    try:
        if path.stat().st_size < max_bytes:
            return False
    except FileNotFoundError:
        return False
    if keep > 0:
        for n in range(keep - 1, 0, -1):
            older = path.with_name(f"{path.name}.{n}")
            if older.exists():
                older.replace(path.with_name(f"{path.name}.{n + 1}"))
        shutil.copyfile(path, path.with_name(f"{path.name}.1"))
    os.truncate(path, 0)
    return True


def rotate_all(logs: Path, max_bytes: int, keep: int) -> list[Path]:
    """Rotate every ``*.log`` in ``logs`` that reached ``max_bytes``; the ones rotated."""
    if not logs.is_dir():
        return []
    return [path for path in sorted(logs.glob("*.log")) if rotate(path, max_bytes, keep)]


def tree_bytes(path: Path) -> int:
    """Bytes used by the files under ``path`` (allocated blocks, as ``du`` counts them)."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += tree_bytes(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
        except FileNotFoundError:
            continue  # removed while we looked (a rotated log, a compacted segment)
    return total


def data_usage(home: Path) -> dict[str, int]:
    """Bytes per top-level entry of the data directory, plus ``"total"``."""
    usage: dict[str, int] = {}
    if home.is_dir():
        for entry in sorted(home.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                usage[entry.name] = tree_bytes(entry)
            elif entry.is_file():
                usage[entry.name] = entry.stat().st_blocks * 512
    usage["total"] = sum(usage.values())
    return usage
