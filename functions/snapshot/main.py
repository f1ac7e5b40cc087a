"""Snapshot function: a PingSource tick in, one registered MLflow version per moved domain.

Answers 202 at once and works in a background thread (``?wait=1`` works in the request); see
coelho.handlers.snapshot. Its ``/metrics`` also exports the batch trainings' status from Redis
(coelho.batch.telemetry): a training Job lives too briefly to be scraped itself.
"""

from __future__ import annotations

import functions_framework
from flask import Request
from prometheus_client import REGISTRY

from coelho.batch.telemetry import BatchCollector
from coelho.handlers.http import Response
from coelho.handlers.snapshot import SnapshotService

service = SnapshotService()
REGISTRY.register(BatchCollector(service.client))


@functions_framework.http
def main(request: Request) -> Response:
    return service.handle(request)
