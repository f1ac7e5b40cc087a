"""The query function over a real Delta table on MinIO: answers, and every refusal as a 400.

Each refused statement is its own test case; the connection is locked down before the user's
SQL runs (coelho.lakehouse.sql), so even SELECTs that try to read the server's files fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from coelho.domains import get
from coelho.lakehouse.archive import DomainArchive
from coelho.lakehouse.storage import Storage
from coelho.settings import LakehouseSettings
from coelho.stack.config import function_argv
from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import http_ok
from coelho.stack.processes import Child
from coelho.state import EventLog
from tests.conftest import REPO
from tests.lakehouse import fresh_buckets, post_json

ROWS = 200
CAP = 50
TABLE = get("tfd").table


@pytest.fixture(scope="module")
def query_url(
    s3_server: Any, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A tfd table of ROWS archived events and the query function over it (cap 50 rows, 1 s)."""
    env = fresh_buckets(s3_server)
    client = redis.Redis.from_url(redis_url)
    client.delete("coelho:tfd:log", "coelho:tfd:archive")
    log, events = EventLog(client, "tfd", 3600), get("tfd").produce(seed=3)
    for i in range(ROWS):
        log.append("sql-test", f"q-{i}", get("tfd").validate(next(events)), ("t", 0, i))
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        storage = Storage(LakehouseSettings.from_env())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert DomainArchive(get("tfd"), client, storage).run(30, 1000).archived == ROWS
    port = free_port()
    full_env = {**os.environ, **env, "COELHO_QUERY_MAX_ROWS": str(CAP),
                "COELHO_QUERY_TIMEOUT_SECONDS": "1", "SECRET_CANARY": "s3cr3t"}  # fmt: skip
    log_path = tmp_path_factory.mktemp("query") / "query.log"
    argv = function_argv(REPO / "functions" / "query" / "main.py", port)
    child = Child("query", argv, env=full_env, cwd=REPO, log_path=log_path).start()
    url = f"http://{HOST}:{port}"
    try:
        child.wait_ready(lambda: http_ok(f"{url}/health/readiness"), timeout=60, what="ready")
        yield url
    finally:
        child.stop(timeout=10)
        client.close()


def ask(url: str, sql: str, **extra: Any) -> tuple[int, Any]:
    return post_json(url, {"table": TABLE, "sql": sql, **extra})


def test_count_and_group_by_answer_with_the_contract(query_url: str) -> None:
    status, answer = ask(query_url, "SELECT count(*) AS n FROM data")
    assert status == 200, answer
    assert answer["rows"] == [[ROWS]] and answer["columns"] == [{"name": "n", "type": "BIGINT"}]
    assert answer["row_count"] == 1 and answer["truncated"] is False
    assert answer["engine"].startswith("duckdb") and answer["elapsed_ms"] > 0
    status, answer = ask(query_url, "SELECT currency, count(*) FROM data GROUP BY 1 ORDER BY 1")
    assert status == 200 and sum(r[1] for r in answer["rows"]) == ROWS


def test_the_tfd_templates_run(query_url: str) -> None:
    for label, sql in get("tfd").sql_templates:
        status, answer = ask(query_url, sql)
        assert status == 200, (label, answer)


def test_a_result_past_the_row_cap_is_truncated_not_refused(query_url: str) -> None:
    status, answer = ask(query_url, "SELECT * FROM data")
    assert status == 200, answer
    assert answer["row_count"] == CAP and len(answer["rows"]) == CAP and answer["truncated"]
    status, answer = ask(query_url, "SELECT * FROM data", limit=10)
    assert answer["row_count"] == 10 and answer["truncated"]


REFUSED = {
    "two statements": ("SELECT 1; SELECT 2", "exactly one statement"),
    "insert": ("INSERT INTO data SELECT * FROM data", "got INSERT"),
    "update": ("UPDATE data SET amount = 0", "got UPDATE"),
    "delete": ("DELETE FROM data", "got DELETE"),
    "create": ("CREATE TABLE x AS SELECT 1", "got CREATE"),
    "drop": ("DROP TABLE data", "got DROP"),
    "copy": ("COPY data TO '/tmp/coelho-leak.csv'", "got COPY"),
    "attach": ("ATTACH '/tmp/coelho-leak.db' AS x", "got ATTACH"),
    "install": ("INSTALL httpfs", "got LOAD"),
    "load": ("LOAD httpfs", "got LOAD"),
    "set": ("SET enable_external_access = true", "got SET"),
    "pragma": ("PRAGMA version", "got PRAGMA"),
    "call": ("CALL pragma_version()", "got CALL"),
    "export": ("EXPORT DATABASE '/tmp/coelho-leak'", "got EXPORT"),
    "read_csv": ("SELECT * FROM read_csv('/etc/passwd')", "disabled by configuration"),
    "read_parquet": ("SELECT * FROM read_parquet('/tmp/x.parquet')", "disabled by configuration"),
    "glob": ("SELECT * FROM glob('/etc/*')", "disabled by configuration"),
    "read_text": ("SELECT content FROM read_text('/etc/hostname')", "disabled by configuration"),
    "url": ("SELECT * FROM 'http://127.0.0.1:9/x.csv'", "disabled by configuration"),
    "time limit": ("SELECT count(*) FROM range(1000000000000)", "time limit of 1 s"),
    "no statement": ("-- only a comment", "exactly one statement"),
    "syntax": ("SELEC 1", "does not parse"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused_with_a_400_naming_the_problem(query_url: str, case: str) -> None:
    sql, reason = REFUSED[case]
    status, answer = ask(query_url, sql)
    assert status == 400, answer
    assert answer["error"] in ("QueryRefused", "InvalidEvent"), answer
    assert reason in answer["message"], answer
    assert not Path("/tmp/coelho-leak.csv").exists() and not Path("/tmp/coelho-leak.db").exists()


def test_the_servers_secrets_and_variables_are_out_of_reach(query_url: str) -> None:
    status, answer = ask(query_url, "SELECT getenv('SECRET_CANARY')")
    assert status == 400 and "s3cr3t" not in str(answer)
    # Python replacement scans off: a name is a table of the catalog or nothing.
    status, answer = ask(query_url, "SELECT * FROM service")
    assert status == 400 and "does not exist" in answer["message"]
    status, answer = ask(query_url, "SELECT current_setting('enable_external_access') AS v")
    assert status == 200 and answer["rows"] == [[False]]


def test_bad_requests_name_the_field(query_url: str) -> None:
    status, answer = post_json(query_url, {"table": "nope", "sql": "SELECT 1"})
    assert status == 404 and "transactions" in answer["message"]
    assert ask(query_url, "SELECT 1", limit=0)[1]["field"] == "limit"
    assert ask(query_url, "SELECT 1", limit=CAP + 1)[0] == 400
    status, answer = post_json(query_url, {"table": TABLE, "sql": 7})
    assert status == 400 and answer["field"] == "sql"
    status, answer = post_json(query_url, ["not", "an", "object"])
    assert status == 400 and answer["field"] == "body"


def test_schema_and_row_count(query_url: str) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{query_url}/tables/{TABLE}", timeout=30) as response:
        info = json.loads(response.read())
    names = [c["name"] for c in info["columns"]]
    assert info["row_count"] == ROWS and info["partition_columns"] == ["event_date"]
    assert {"location_lat", "device_info_os", "ce_id", "kafka_offset", "event_date"} <= set(names)
    with urllib.request.urlopen(f"{query_url}/tables", timeout=30) as response:
        listing = json.loads(response.read())["tables"]
    assert {t["table"] for t in listing} == {"transactions", "trips", "customer_interactions"}
