"""The lakehouse's pure parts: cursor packing, table layout per domain, the SQL guard, doctests."""

from __future__ import annotations

import doctest
import importlib
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from coelho.domains import REGISTRY, get
from coelho.errors import QueryRefused
from coelho.lakehouse import cursor
from coelho.lakehouse.schema import PARTITION, TableLayout
from coelho.lakehouse.sql import Limits, check_select, run_query
from coelho.stack.render import domains_table
from coelho.stack.s3 import Credentials
from coelho.state.log import LogEntry

MODULES = ["cursor", "schema", "sql", "deadletters"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(f"coelho.lakehouse.{name}")
    failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0


def test_cursor_packs_stream_ids_in_order() -> None:
    ids = ["0-1", "5-0", "5-7", "1700000000000-0", "1700000000000-1048575", "1700000000001-0"]
    versions = [cursor.to_version(i) for i in ids]
    assert versions == sorted(versions) and len(set(versions)) == len(ids)
    assert [cursor.from_version(v) for v in versions] == ids
    assert cursor.from_version(None) == cursor.START
    with pytest.raises(ValueError, match="does not fit"):
        cursor.to_version("1-1048576")


@pytest.mark.parametrize("key", sorted(REGISTRY))
def test_every_domain_declares_a_table_with_typed_flat_columns(key: str) -> None:
    domain = get(key)
    layout = TableLayout(domain)
    assert domain.table and domain.sql_templates
    names = layout.columns
    assert "." not in "".join(names) and len(names) == len(set(names))
    for path, _spec in domain.leaf_fields():
        assert path.replace(".", "_") in names
    assert names[-1] == PARTITION and {"ce_id", "ce_source", "kafka_offset", "log_id"} <= set(names)
    event = domain.validate(next(domain.produce(seed=1)))
    entry = LogEntry("1700000000000-0", event, "src", "id-1", (domain.topic, 2, 41))
    table = layout.rows([entry])
    row = table.to_pylist()[0]
    assert row["ce_id"] == "id-1" and row["kafka_partition"] == 2 and row["kafka_offset"] == 41
    assert row[domain.event_id] == event[domain.event_id]
    assert table.schema.field(PARTITION).type == pa.date32()
    assert row[PARTITION].isoformat() == event["timestamp"][:10]


def test_nested_fields_are_flattened() -> None:
    names = TableLayout(get("tfd")).columns
    assert {"location_lat", "location_lon", "device_info_os", "device_info_browser"} <= set(names)


def test_templates_are_single_selects() -> None:
    for domain in REGISTRY.values():
        for label, sql in domain.sql_templates:
            assert check_select(sql), label


@pytest.mark.parametrize(
    "sql, reason",
    [
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("DELETE FROM data", "got DELETE"),
        ("PRAGMA show_tables", "got PRAGMA"),
        ("pivot data on a", "exactly one statement"),
        ("", "empty"),
        ("SELEC", "does not parse"),
    ],
)
def test_the_guard_refuses(sql: str, reason: str) -> None:
    with pytest.raises(QueryRefused, match=reason):
        check_select(sql)


def test_run_query_caps_rows_and_locks_the_connection() -> None:
    data = ds.dataset(pa.table({"a": list(range(100))}))
    answer = run_query(data, "SELECT a FROM data ORDER BY a", Limits(10, 5.0))
    assert answer["row_count"] == 10 and answer["truncated"] and answer["rows"][0] == [0]
    with pytest.raises(QueryRefused, match="disabled by configuration"):
        run_query(data, "SELECT * FROM read_csv('/etc/passwd')", Limits(10, 5.0))
    with pytest.raises(QueryRefused, match="time limit"):
        run_query(data, "SELECT count(*) FROM range(1000000000000)", Limits(10, 0.3))


def test_status_table_shows_archive_columns() -> None:
    text = domains_table({"tfd": {"archived_events": 1200, "archive_lag_events": 3,
                                  "archive_lag_seconds": 1.5}})  # fmt: skip
    assert "archived" in text and "1200" in text and "3 ev / 1.5 s" in text
    assert "? ev" in domains_table({"eta": {"archive_lag_events": None}})


def test_the_stack_starts_minio_by_default_and_artifacts_may_opt_out(monkeypatch: Any) -> None:
    from coelho.settings import StackStorage

    monkeypatch.delenv("COELHO_S3_ENDPOINT", raising=False)
    monkeypatch.delenv("COELHO_ARTIFACTS", raising=False)
    assert StackStorage.from_env() == StackStorage(None, "s3")
    monkeypatch.setenv("COELHO_S3_ENDPOINT", "local")
    monkeypatch.setenv("COELHO_ARTIFACTS", "local")
    assert StackStorage.from_env() == StackStorage(None, "local")
    monkeypatch.setenv("COELHO_S3_ENDPOINT", "http://s3.example:9000")
    assert StackStorage.from_env().s3_endpoint == "http://s3.example:9000"
    monkeypatch.setenv("COELHO_ARTIFACTS", "ftp")
    with pytest.raises(ValueError, match="COELHO_ARTIFACTS"):
        StackStorage.from_env()


def test_only_the_lakehouse_functions_get_s3_credentials() -> None:
    from coelho.stack.config import FUNCTIONS
    from coelho.stack.s3 import lakehouse_env, s3_env

    assert {f.name for f in FUNCTIONS if f.s3} == {"archive", "query"}
    env = lakehouse_env(s3_env("http://127.0.0.1:1", Credentials("k", "s")))
    assert env == {"COELHO_S3_ENDPOINT": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "k",
                   "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def test_minio_is_required_unless_moto_is_asked_for(tmp_path: Any, monkeypatch: Any) -> None:
    from coelho.stack import s3
    from coelho.stack.processes import StartupError

    monkeypatch.setattr(s3, "minio_binary", lambda home=None: None)
    with pytest.raises(StartupError, match="make minio"):
        s3.S3Server(tmp_path).argv()
    argv, _, kind = s3.S3Server(tmp_path, prefer="moto").argv()
    assert kind == "moto"
    creds = (tmp_path / "credentials").stat().st_mode & 0o777
    assert creds == 0o600


def test_learn_and_predict_never_import_the_lakehouse_libraries() -> None:
    """Their images do not install deltalake, duckdb or pyarrow (functions/*/requirements.txt)."""
    import subprocess
    import sys

    code = ("import sys, coelho.handlers.learn, coelho.handlers.predict, coelho.status, "
            "coelho.state.sidecar; print(sorted(m for m in ('deltalake', 'duckdb', 'pyarrow') "
            "if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    from pathlib import Path

    functions = Path(__file__).resolve().parents[2] / "functions"
    for folder in functions.iterdir():
        wanted = (folder / "requirements.txt").read_text()
        heavy = any(lib in wanted for lib in ("deltalake", "duckdb"))
        # archive and query serve the lakehouse; train (a Job) reads it to train batch models.
        assert heavy == (folder.name in ("archive", "query", "train")), folder.name
