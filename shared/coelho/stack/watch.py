"""Keeping children up: a dead child is restarted after a backoff that doubles per crash.

The backoff starts at 1 s, doubles up to 30 s, and resets once a child has stayed up for a
minute, so a crash loop does not spin while an occasional crash recovers quickly.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from coelho.stack.processes import Child

log = logging.getLogger("coelho.stack")
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 60.0


@dataclass
class Component:
    """A started piece of the stack; ``child`` is None for an external server."""

    name: str
    address: str
    child: Child | None = None
    seconds: float = 0.0
    backoff: float = FIRST_BACKOFF
    started_at: float = field(default_factory=time.monotonic)
    restart_at: float | None = None
    restarts: int = 0
    finished_ok: bool = False  # a child whose clean exit is the end of its job (a producer)


def restart_dead(components: list[Component], now: float | None = None) -> bool:
    """One pass: schedule or perform restarts; True when a child was restarted."""
    now = time.monotonic() if now is None else now
    restarted = False
    for comp in components:
        child = comp.child
        if child is None:
            continue
        if child.alive():
            if now - comp.started_at > HEALTHY_AFTER:
                comp.backoff = FIRST_BACKOFF
            continue
        code = child.returncode()
        if code is None or (comp.finished_ok and code == 0):
            continue
        if comp.restart_at is None:
            comp.restart_at = now + comp.backoff
            log.warning(
                "%s exited with code %s; restarting in %.0f s (log %s)",
                comp.name, code, comp.backoff, child.log_path,
            )  # fmt: skip
        elif now >= comp.restart_at:
            child.start()
            comp.restarts += 1
            comp.started_at = now
            comp.restart_at = None
            comp.backoff = min(comp.backoff * 2, MAX_BACKOFF)
            log.warning("%s restarted (pid %s, restart #%d)", comp.name, child.pid, comp.restarts)
            restarted = True
    return restarted
