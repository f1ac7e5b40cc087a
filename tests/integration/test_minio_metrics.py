"""MinIO's own metrics, as the MinIO dashboard reads them: a real Prometheus, configured as
``coelho up`` configures it, scrapes the test MinIO, and the dashboard's panels have data.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from coelho.stack.prometheus import PrometheusServer
from coelho.stack.s3 import S3Server
from tests.conftest import REPO

WAIT = 90.0
# Bucket usage comes from MinIO's periodic usage scan, which a fresh server may not have run.
SCAN_PANELS = {"Objects by bucket", "Bucket size"}


def query(base: str, expr: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def test_the_minio_dashboard_reads_what_minio_exposes(s3_server: S3Server, tmp_path: Path) -> None:
    target = s3_server.metrics_target
    if target is None:
        pytest.skip("the S3 server is moto, which has no Prometheus metrics")
    env = s3_server.env()
    s3 = boto3.client(
        "s3", endpoint_url=s3_server.endpoint, aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"],
    )  # fmt: skip
    s3.put_object(Bucket="raw-data", Key="metrics-test/object", Body=b"x" * 1000)
    with pytest.raises(ClientError):
        s3.get_object(Bucket="raw-data", Key="metrics-test/missing")  # one S3 error
    prometheus = PrometheusServer(tmp_path / "prometheus")
    try:
        prometheus.start({"minio": target}, REPO / "knative")
        base = prometheus.url
        deadline = time.monotonic() + WAIT
        while not any(float(r["value"][1]) >= 2 for r in
                      query(base, "count_over_time(minio_s3_requests_total[1m])")):  # fmt: skip
            if time.monotonic() > deadline:  # a hang guard, not a speed bound
                pytest.fail("MinIO was not scraped twice")
            time.sleep(1)
        up = query(base, 'up{service="minio"}')
        board = json.loads((REPO / "knative/monitoring/dashboards/minio.json").read_text())
        empty = set()
        for panel in board["panels"]:
            exprs = [t["expr"].replace("$__rate_interval", "1m") for t in panel.get("targets", [])]
            if exprs and not any(query(base, expr) for expr in exprs):
                empty.add(panel["title"])
        errors = query(base, 'sum by (api) (minio_s3_requests_errors_total{api="getobject"})')
    finally:
        prometheus.stop()
    assert [float(r["value"][1]) for r in up] == [1.0]
    assert empty <= SCAN_PANELS, empty - SCAN_PANELS
    assert errors and float(errors[0]["value"][1]) >= 1
