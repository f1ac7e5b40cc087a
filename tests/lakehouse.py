"""Helpers of the lakehouse tests: buckets per test, archive ticks, an independent Delta reader.

``read_delta_log`` is the second reader the exactly-once tests compare the table with: it
does not use delta-rs at all. It replays the JSON commits of ``_delta_log/`` (add and remove
actions, the Delta protocol's own rules) and reads the live Parquet files with pyarrow,
adding the partition column from each file's ``partitionValues``.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
import uuid
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from coelho.stack.s3 import S3Server, create_buckets, lakehouse_env


def fresh_buckets(s3: S3Server) -> dict[str, str]:
    """Environment of the archive/query functions with a delta and a raw bucket of their own."""
    suffix = secrets.token_hex(4)
    delta, raw = f"delta-{suffix}", f"raw-{suffix}"
    create_buckets(s3.endpoint, s3.credentials, (delta, raw))
    return {**lakehouse_env(s3.env()), "COELHO_DELTA_BUCKET": delta, "COELHO_RAW_BUCKET": raw}


def tick_headers(task: str = "archive") -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.sources.ping",
        "ce-source": "/apis/v1/namespaces/coelho/pingsources/archive",
        "ce-id": str(uuid.uuid4()),
        "content-type": "application/json",
    }


def post_json(url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 60):
    """(status, parsed JSON or text) of a POST; errors are answers, not exceptions."""
    data = json.dumps(body).encode()
    headers = {"content-type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text.decode(errors="replace")


def tick(url: str, task: str = "archive", domains: list[str] | None = None, timeout: float = 120):
    body: dict[str, Any] = {"task": task}
    if domains is not None:
        body["domains"] = domains
    return post_json(f"{url}/?wait=1", body, tick_headers(task), timeout=timeout)


def filesystem(env: dict[str, str]) -> Any:
    from pyarrow import fs

    endpoint = env["COELHO_S3_ENDPOINT"].removeprefix("http://")
    return fs.S3FileSystem(access_key=env["AWS_ACCESS_KEY_ID"],
                           secret_key=env["AWS_SECRET_ACCESS_KEY"], region="us-east-1",
                           endpoint_override=endpoint, scheme="http")  # fmt: skip


def read_delta_log(env: dict[str, str], table: str) -> pa.Table:
    """The table's latest version, read without delta-rs (see the module docstring)."""
    from pyarrow import fs as pafs

    s3 = filesystem(env)
    root = f"{env['COELHO_DELTA_BUCKET']}/{table}"
    commits = sorted(
        info.path
        for info in s3.get_file_info(pafs.FileSelector(f"{root}/_delta_log"))
        if info.path.endswith(".json")
    )
    live: dict[str, dict[str, str]] = {}
    for path in commits:
        with s3.open_input_stream(path) as stream:
            for line in stream.read().decode().splitlines():
                action = json.loads(line)
                if "add" in action:
                    live[action["add"]["path"]] = action["add"].get("partitionValues") or {}
                elif "remove" in action:
                    live.pop(action["remove"]["path"], None)
    parts = []
    for path, partitions in sorted(live.items()):
        part = pq.read_table(f"{root}/{unquote(path)}", filesystem=s3)
        for column, value in partitions.items():
            parsed = pa.array([value] * part.num_rows).cast(pa.date32())
            part = part.append_column(column, parsed)
        parts.append(part)
    if not parts:
        return pa.table({})
    return pa.concat_tables(parts, promote_options="permissive")
