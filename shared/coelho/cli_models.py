"""The model commands of ``coelho`` (``cli.py`` registers them) and the registry part of status.

coelho invoke DOMAIN [JSON|-|@file] [--model live|champion|latest|N|batch|batch:N]  predict
coelho models DOMAIN                          registered versions, their metrics and aliases
coelho promote DOMAIN VERSION                 move the champion alias (forced promotion)
coelho snapshot [DOMAIN ...]                  take a snapshot now instead of waiting for the tick

Addresses come from the running stack (``<home>/stack.json``); without one, ``--url`` and
``MLFLOW_TRACKING_URI`` say where the predict function and MLflow are.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from coelho.errors import CoelhoError
from coelho.stack.config import StackConfig
from coelho.stack.control import NotRunning, running_stack

ANSWER_TIMEOUT = 120.0


def add_parsers(sub: Any, domains: list[str]) -> None:
    invoke = sub.add_parser("invoke", help="send one event to a predict function")
    invoke.add_argument("domain", choices=domains)
    invoke.add_argument(
        "event", nargs="?", default=None,
        help="JSON object, '-' for stdin, '@file'; default: a generated event",
    )  # fmt: skip
    invoke.add_argument(
        "--model", default="live", help="live | champion | latest | N | batch | batch:N"
    )
    invoke.add_argument("--url", default=None, help="predict function URL (default: the stack's)")
    models = sub.add_parser("models", help="registered versions of a domain's model")
    models.add_argument("domain", choices=domains)
    models.add_argument("--json", action="store_true", help="machine-readable output")
    promote = sub.add_parser("promote", help="make a registered version the champion")
    promote.add_argument("domain", choices=domains)
    promote.add_argument("version", type=int)
    snapshot = sub.add_parser("snapshot", help="snapshot domains to MLflow now")
    snapshot.add_argument("domains", nargs="*", default=[], help=f"default: all of {domains}")


def _services(config: StackConfig) -> dict[str, str]:
    try:
        return dict(running_stack(config)["services"])
    except NotRunning:
        return {}


def _tracking_uri(config: StackConfig) -> str:
    uri = _services(config).get("mlflow") or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise NotRunning("no MLflow: start the stack (`coelho up`) or set MLFLOW_TRACKING_URI")
    return uri


def _event(domain: str, raw: str | None) -> Any:
    if raw is None:
        from coelho.domains import get

        return get(domain).validate_request(next(get(domain).produce()))
    if raw == "-":
        raw = sys.stdin.read()
    elif raw.startswith("@"):
        with open(raw[1:]) as fh:
            raw = fh.read()
    return json.loads(raw)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read()
    try:
        return status, json.loads(text) if text else None
    except ValueError:
        return status, text.decode(errors="replace")


def cmd_invoke(config: StackConfig, args: argparse.Namespace) -> int:
    url = args.url or _services(config).get(f"predict-{args.domain}")
    if not url:
        raise NotRunning(f"no predict-{args.domain} URL: start the stack or pass --url")
    try:
        event = _event(args.domain, args.event)
    except (ValueError, OSError) as exc:
        print(f"coelho invoke: the event is not JSON: {exc}", file=sys.stderr)
        return 2
    query = urllib.parse.urlencode({"model": args.model})
    status, answer = _post(f"{url.rstrip('/')}/?{query}", json.dumps(event).encode(),
                           {"Content-Type": "application/json"})  # fmt: skip
    if status >= 400:
        message = answer.get("message", answer) if isinstance(answer, dict) else answer
        print(f"HTTP {status}: {message}", file=sys.stderr)
        return 1
    print(json.dumps(answer, indent=2, sort_keys=True))
    return 0


def cmd_models(config: StackConfig, args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from coelho.promotion import promotion_metric
    from coelho.registry import shared

    try:
        versions = shared(_tracking_uri(config)).versions(args.domain)
    except MlflowException as exc:
        print(f"coelho models: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        rows = [{"version": v.version, "aliases": list(v.aliases), "created": v.created,
                 "run_id": v.run_id, "events_learned": v.events_learned,
                 "state_version": int(v.tags.get("coelho.state_version", 0)),
                 "metrics": v.metrics, "promotion": v.tags.get("coelho.promotion")}
                for v in versions]  # fmt: skip
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    if not versions:
        print(f"{args.domain}-river: no registered version yet (run `coelho snapshot`)")
        return 0
    metric, _ = promotion_metric(args.domain)
    print(f"{'version':>7}  {'aliases':<16} {'created (UTC)':<19}  {'events':>8}  {metric:>14}")
    for v in versions:
        aliases = ",".join(v.aliases + (("latest",) if v is versions[0] else ()))
        created = datetime.fromtimestamp(v.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        value = v.metrics.get(metric)
        shown = f"{value:.4f}" if value is not None else "-"
        print(f"{v.version:>7}  {aliases:<16} {created:<19}  {v.events_learned:>8}  {shown:>14}")
    return 0


def cmd_promote(config: StackConfig, args: argparse.Namespace) -> int:
    from mlflow.exceptions import MlflowException

    from coelho.registry import shared

    try:
        shared(_tracking_uri(config)).promote(args.domain, args.version, "manual: coelho promote")
    except MlflowException as exc:
        print(f"coelho promote: {exc.message}", file=sys.stderr)
        return 1
    except CoelhoError as exc:
        print(f"coelho promote: {exc}", file=sys.stderr)
        return 1
    print(f"{args.domain}-river version {args.version} is now the champion")
    return 0


def cmd_snapshot(config: StackConfig, args: argparse.Namespace) -> int:
    url = _services(config).get("snapshot")
    if not url:
        raise NotRunning("no snapshot function: start the stack (`coelho up`)")
    headers = {"ce-specversion": "1.0", "ce-type": "dev.knative.sources.ping",
               "ce-source": "coelho-cli", "ce-id": str(uuid.uuid4()),
               "Content-Type": "application/json"}  # fmt: skip
    # Now, even if less than COELHO_SNAPSHOT_MIN_EVENTS / _SECONDS since the newest version.
    body = json.dumps({"domains": args.domains, "force": True} if args.domains
                      else {"force": True}).encode()  # fmt: skip
    # Unknown names come back as a 400 naming them.
    status, report = _post(f"{url.rstrip('/')}/?wait=1", body, headers)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if status == 200 else 1


COMMANDS = {"invoke": cmd_invoke, "models": cmd_models, "promote": cmd_promote,
            "snapshot": cmd_snapshot}  # fmt: skip


def registry_status(mlflow_url: str | None, domains: list[str]) -> dict[str, dict[str, Any]]:
    """Per domain ``registered_version`` and ``champion_version`` (None when unknown).

    Uses MLflow's REST API directly so ``coelho status`` does not pay for importing MLflow.
    """
    out: dict[str, dict[str, Any]] = {}
    for domain in domains:
        found: dict[str, Any] = {"registered_version": None, "champion_version": None}
        if mlflow_url:
            query = urllib.parse.urlencode({"name": f"{domain}-river"})
            url = f"{mlflow_url.rstrip('/')}/api/2.0/mlflow/registered-models/get?{query}"
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    model = json.loads(response.read())["registered_model"]
            except (OSError, ValueError, KeyError):
                model = {}
            versions = [int(v["version"]) for v in model.get("latest_versions", [])]
            aliases = {a["alias"]: int(a["version"]) for a in model.get("aliases", [])}
            found = {"registered_version": max(versions, default=None),
                     "champion_version": aliases.get("champion")}  # fmt: skip
        out[domain] = found
    return out


def extend_status(status: dict[str, Any]) -> None:
    """Add the registry fields to each domain of ``coelho status``."""
    domains = status.get("domains", {})
    versions = registry_status(status.get("services", {}).get("mlflow"), sorted(domains))
    for domain, fields in versions.items():
        domains[domain].update(fields)
