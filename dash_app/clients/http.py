"""One keep-alive ``requests`` session per server thread, and JSON bodies read defensively."""

from __future__ import annotations

import threading
from typing import Any

import requests

_local = threading.local()


def session() -> requests.Session:
    """This thread's session: pooled connections without sharing a Session across threads."""
    current = getattr(_local, "session", None)
    if current is None:
        current = requests.Session()
        current.trust_env = False  # loopback and in-cluster addresses: never via a proxy
        _local.session = current
    return current


def json_body(response: requests.Response) -> dict[str, Any] | None:
    """The response's JSON object, or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
