"""A no-op function for the transport floor: answers every POST with an empty 202."""

from __future__ import annotations

import functions_framework
from flask import Request


@functions_framework.http
def main(request: Request) -> tuple[str, int]:
    return "", 202
