"""``<home>/stack.json``: what the running supervisor publishes about itself.

Written atomically (temp file + rename) on every change so ``coelho status``/``down`` and a
detaching ``coelho up`` never read half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from coelho.stack.processes import pid_alive


def write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def running(path: Path) -> dict[str, Any] | None:
    """The stack file if its supervisor is alive, else None (a stale file is left alone)."""
    data = read(path)
    if data is None or not isinstance(data.get("pid"), int) or not pid_alive(data["pid"]):
        return None
    return data
