"""Readiness of the functions behind a page, probed in parallel with a short timeout.

On the cluster a probe through a scaled-to-zero predict Service wakes it up; the home page
therefore probes on load and on its refresh interval only while it is open.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import requests

from dash_app.clients.http import json_body, session, short

State = Literal["ready", "not ready", "down", "unknown"]
PROBE_TIMEOUT_S = 2.0
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="health")


@dataclass(frozen=True)
class Health:
    name: str
    url: str | None
    state: State
    message: str = ""


def readiness(name: str, url: str | None, timeout: float = PROBE_TIMEOUT_S) -> Health:
    """GET ``<url>/health/readiness``: 200 ready, 503 not ready, no answer down."""
    if url is None:
        return Health(name, None, "unknown", "no address configured")
    try:
        response = session().get(f"{url}/health/readiness", timeout=timeout)
    except requests.Timeout:
        return Health(name, url, "down", f"no answer within {timeout:g} s")
    except requests.RequestException:
        return Health(name, url, "down", "not reachable")
    body = json_body(response) or {}
    message = short(str(body.get("message") or response.reason or ""), 120)
    state: State = "ready" if response.status_code == 200 else "not ready"
    return Health(name, url, state, message)


def probe_all(targets: dict[str, str | None]) -> dict[str, Health]:
    """Probe every ``name -> url`` at once; the slowest probe bounds the wait."""
    futures = {name: _pool.submit(readiness, name, url) for name, url in targets.items()}
    return {name: future.result() for name, future in futures.items()}
