"""Where the lakehouse lives on S3 (MinIO locally and on k3d) and how each library reaches it.

delta-rs takes ``storage_options``; pyarrow (dead-letter objects, the tests' independent
reader) takes an ``S3FileSystem``. Both are built from ``LakehouseSettings`` only, so a
function's S3 credentials come from its environment (a Secret reference on the cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from coelho.settings import LakehouseSettings


@dataclass(frozen=True)
class Storage:
    settings: LakehouseSettings

    @classmethod
    def from_env(cls) -> Storage:
        return cls(LakehouseSettings.from_env())

    def table_uri(self, table: str) -> str:
        return f"s3://{self.settings.delta_bucket}/{table}"

    @property
    def options(self) -> dict[str, str]:
        """delta-rs storage options. Commits are put-if-absent on S3 (MinIO honours
        ``If-None-Match``), which is what makes two writers of one version conflict."""
        s = self.settings
        return {
            "AWS_ENDPOINT_URL": s.s3_endpoint,
            "AWS_ACCESS_KEY_ID": s.access_key,
            "AWS_SECRET_ACCESS_KEY": s.secret_key,
            "AWS_REGION": s.region,
            "AWS_ALLOW_HTTP": "true" if s.s3_endpoint.startswith("http://") else "false",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def filesystem(self) -> Any:
        """A pyarrow S3 filesystem on the same endpoint (paths are ``bucket/key``)."""
        from pyarrow import fs

        endpoint = urlparse(self.settings.s3_endpoint)
        return fs.S3FileSystem(
            access_key=self.settings.access_key,
            secret_key=self.settings.secret_key,
            region=self.settings.region,
            endpoint_override=endpoint.netloc,
            scheme=endpoint.scheme or "http",
        )
