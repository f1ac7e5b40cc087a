"""The lakehouse commands of ``coelho`` (``cli.py`` registers them).

coelho sql DOMAIN "SELECT ..." [--json] [--limit N]   SQL over the domain's Delta table
coelho archive [DOMAIN ...]                             archive now instead of waiting for the tick

Both go through the running stack's functions (``query``, ``archive``), exactly as the
dashboard does; ``--url`` points ``sql`` at another query function.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from coelho.cli_models import _post, _services
from coelho.stack.config import StackConfig
from coelho.stack.control import NotRunning
from coelho.stack.render import table


def add_parsers(sub: Any, domains: list[str]) -> None:
    sql = sub.add_parser("sql", help="SQL (one SELECT) over a domain's Delta table `data`")
    sql.add_argument("domain", choices=domains)
    sql.add_argument("sql", help='e.g. "SELECT count(*) FROM data"')
    sql.add_argument("--json", action="store_true", help="the query function's answer as JSON")
    sql.add_argument("--limit", type=int, default=None, help="rows at most (default: the cap)")
    sql.add_argument("--url", default=None, help="query function URL (default: the stack's)")
    archive = sub.add_parser("archive", help="archive the domains' logs to Delta now")
    archive.add_argument("domains", nargs="*", default=[], help=f"default: all of {domains}")


def _url(config: StackConfig, name: str, given: str | None = None) -> str:
    url = given or _services(config).get(name)
    if not url:
        raise NotRunning(f"no {name} function: start the stack (`coelho up`) or pass --url")
    return url.rstrip("/")


def cmd_sql(config: StackConfig, args: argparse.Namespace) -> int:
    from coelho.domains import get

    body: dict[str, Any] = {"table": get(args.domain).table, "sql": args.sql}
    if args.limit is not None:
        body["limit"] = args.limit
    status, answer = _post(_url(config, "query", args.url) + "/", json.dumps(body).encode(),
                           {"Content-Type": "application/json"})  # fmt: skip
    if status >= 400:
        message = answer.get("message", answer) if isinstance(answer, dict) else answer
        print(f"coelho sql: HTTP {status}: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer, indent=2, sort_keys=True))
        return 0
    headers = [c["name"] for c in answer["columns"]]
    print(table(([_cell(v) for v in row] for row in answer["rows"]), headers))
    more = " (truncated: raise --limit or aggregate)" if answer["truncated"] else ""
    print(
        f"\n{answer['row_count']} rows in {answer['elapsed_ms']:.1f} ms ({answer['engine']}){more}"
    )
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def cmd_archive(config: StackConfig, args: argparse.Namespace) -> int:
    headers = {"ce-specversion": "1.0", "ce-type": "dev.knative.sources.ping",
               "ce-source": "coelho-cli", "ce-id": str(uuid.uuid4()),
               "Content-Type": "application/json"}  # fmt: skip
    body = {"task": "archive", **({"domains": args.domains} if args.domains else {})}
    status, report = _post(_url(config, "archive") + "/?wait=1", json.dumps(body).encode(), headers)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if status == 200 else 1


COMMANDS = {"sql": cmd_sql, "archive": cmd_archive}
