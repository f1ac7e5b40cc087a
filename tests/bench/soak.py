"""``make soak``: does anything grow without bound while the stream runs?

The whole local stack (``coelho up --detach --no-producers`` in a fresh data directory), fed by
one producer per domain at a fixed rate for a fixed duration. Every ``--sample`` seconds it
records each component's RSS (the sum over its process group: gunicorn worker and writer child
included), Redis ``used_memory``, the MLflow database and artifact sizes, the log directory
and the other data directories, events learned and the registry's versions. After a warm-up
(every domain's log full, i.e. ``COELHO_LOG_RETENTION`` events learned, and at least
``WARMUP_SECONDS``), it fits each series against events learned and reports its growth per
100,000 events; the targets: Redis under 1 MB per 100k (the log is bounded, nothing else may
grow), every RSS flat within 10 % (the fitted change over the steady window, relative to its
mean), registry versions <= ``COELHO_REGISTRY_KEEP`` + ``_KEEP_HELD`` + the alias holders.
The result goes to ``.coelho/bench.json`` under ``"soak"``.

To exercise retention within a soak, snapshots may register every minute
(``COELHO_SNAPSHOT_MIN_SECONDS=60``), the registry keeps 3 and ``mlflow gc`` runs every 5 min;
the defaults (10 min, 10 + 10, hourly) only change how often the same code runs. The module reads
Redis, /proc and the file system itself and imports no ``coelho`` code, so it can measure
another checkout too (``COELHO_REPO`` + ``PYTHONPATH``; the README's "before" figures).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import redis

from tests.bench.soak_analysis import MB, WARMUP_SECONDS, analyse, table

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".coelho" / "bench.json"
DOMAINS = ("tfd", "eta", "ecci")
SOAK_ENV = {"COELHO_SNAPSHOT_MIN_SECONDS": "60", "COELHO_REGISTRY_KEEP": "3",
            "COELHO_REGISTRY_KEEP_HELD": "3", "COELHO_MLFLOW_GC_SECONDS": "300"}  # fmt: skip


def du(path: Path) -> int:
    """Allocated bytes of ``path``, or of the files under it (symlinks not followed)."""
    if path.is_file() and not path.is_symlink():
        return path.stat().st_blocks * 512
    total = 0
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            try:
                stat = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            total += stat.st_blocks * 512 if not os.path.islink(os.path.join(root, name)) else 0
    return total


def processes(groups: set[int]) -> dict[str, list[int]]:
    """``{pid: [process group, resident bytes]}`` of every process in ``groups``."""
    page = os.sysconf("SC_PAGE_SIZE")
    found: dict[str, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            statm = Path(entry.path, "statm").read_text().split()
        except OSError:
            continue
        pgrp = int(stat.rsplit(")", 1)[1].split()[2])
        if pgrp in groups:
            found[entry.name] = [pgrp, int(statm[1]) * page]
    return found


def registry(mlflow: str, domain: str) -> dict[str, Any]:
    """Versions of ``<domain>-river`` and how many hold or held an alias (MLflow's REST API)."""
    base = f"{mlflow.rstrip('/')}/api/2.0/mlflow"
    name = f"{domain}-river"
    query = urllib.parse.urlencode({"filter": f"name='{name}'", "max_results": 10000})
    try:
        with urllib.request.urlopen(f"{base}/model-versions/search?{query}", timeout=10) as r:
            found = json.loads(r.read()).get("model_versions", [])
        with urllib.request.urlopen(
            f"{base}/registered-models/get?{urllib.parse.urlencode({'name': name})}", timeout=10
        ) as r:
            aliases = json.loads(r.read())["registered_model"].get("aliases", [])
    except (OSError, ValueError, KeyError):
        return {"versions": 0, "holding": 0, "held": 0, "newest": 0}
    holding = {int(a["version"]) for a in aliases}
    held = set()
    for mv in found:
        tags = {t["key"]: t["value"] for t in mv.get("tags", [])}
        if tags.get("coelho.aliases") and int(mv["version"]) not in holding:
            held.add(int(mv["version"]))
    newest = max((int(mv["version"]) for mv in found), default=0)
    return {"versions": len(found), "holding": len(holding), "held": len(held), "newest": newest}


class Soak:
    def __init__(
        self, home: Path, seconds: float, rate: float, every: float, warmup: float = WARMUP_SECONDS
    ) -> None:
        self.home, self.seconds, self.rate, self.every = home, seconds, rate, every
        self.warmup = warmup
        self.repo = Path(os.environ.get("COELHO_REPO", REPO))
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {"COELHO_KAFKA_BOOTSTRAP", "COELHO_REDIS_URL"}}  # fmt: skip
        self.env.update({**SOAK_ENV, "COELHO_HOME": str(home), "COELHO_REPO": str(self.repo)})
        self.samples: list[dict[str, Any]] = []

    def coelho(self, *args: str, timeout: float = 900) -> str:
        argv = [sys.executable, "-m", "coelho.cli", *args]
        done = subprocess.run(argv, env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"coelho {' '.join(args)}: {done.stdout}\n{done.stderr}")
        return done.stdout

    def stack(self) -> dict[str, Any]:
        return dict(json.loads((self.home / "stack.json").read_text()))

    def run(self) -> dict[str, Any]:
        if self.home.exists():
            shutil.rmtree(self.home)
        (self.home / "kafka").mkdir(parents=True)
        (self.home / "kafka" / "libs").symlink_to(REPO / ".coelho" / "kafka" / "libs")
        print(f"soak: starting the stack in {self.home}", file=sys.stderr, flush=True)
        self.coelho("up", "--detach", "--no-producers")
        try:
            return self._feed()
        finally:
            self.coelho("down", timeout=300)

    def _feed(self) -> dict[str, Any]:
        services = self.stack()["services"]
        client = redis.Redis.from_url(services["redis"])
        retention = int(self.env.get("COELHO_LOG_RETENTION", "10000"))
        count = int(self.rate * self.seconds)
        producers = [
            subprocess.Popen([sys.executable, "-m", "coelho.producer", d, "--bootstrap",
                              services["kafka"], "--rate", str(self.rate), "--count", str(count),
                              "--seed", str(i + 1)], env=self.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i, d in enumerate(DOMAINS)
        ]  # fmt: skip
        started = time.monotonic()
        print(f"soak: {len(DOMAINS)} x {self.rate:g} events/s for {self.seconds:.0f} s, "
              f"a sample every {self.every:g} s", file=sys.stderr, flush=True)  # fmt: skip
        deadline = started + self.seconds + 600  # producers slowed by a busy machine
        drained_at = None
        while time.monotonic() < deadline:
            sample = self.sample(client, services, started)
            self.samples.append(sample)
            print(f"  t={sample['t']:6.0f} s learned={sample['learned']:>8} "
                  f"redis={sample['redis_used'] / MB:6.1f} MiB load={sample['load']:.1f}",
                  file=sys.stderr, flush=True)  # fmt: skip
            producing = any(p.poll() is None for p in producers)
            if not producing and sample["learned"] >= count * len(DOMAINS):
                drained_at = drained_at or time.monotonic()
                if time.monotonic() - drained_at >= 2 * self.every:
                    break  # two idle samples after the last event was learned
            time.sleep(max(0.0, self.every - (time.monotonic() - started - sample["t"])))
        for p in producers:
            p.terminate()
        client.close()
        run = {"seconds": self.seconds, "rate_per_domain": self.rate,
               "events_sent": count * len(DOMAINS), "sample_seconds": self.every}  # fmt: skip
        keep = int(SOAK_ENV["COELHO_REGISTRY_KEEP"]) + int(SOAK_ENV["COELHO_REGISTRY_KEEP_HELD"])
        return analyse(self.samples, retention, keep, run, self.warmup)

    def sample(
        self, client: redis.Redis, services: dict[str, str], started: float
    ) -> dict[str, Any]:
        stack = self.stack()
        groups = {name: pid for name, pid in stack["pids"].items() if pid}
        groups["supervisor"] = stack["pid"]  # process groups: a child's pid is its group id
        memory = client.info("memory")
        logs = {d: int(client.hget(f"coelho:{d}:stats", "events_learned") or 0) for d in DOMAINS}
        mlflow_dir = self.home / "mlflow"
        return {
            "t": round(time.monotonic() - started, 1),
            "load": os.getloadavg()[0],
            "learned": sum(logs.values()),
            "learned_by_domain": logs,
            "log_entries": {d: client.xlen(f"coelho:{d}:log") for d in DOMAINS},
            "redis_used": int(memory["used_memory"]),
            "redis_keys": int(client.dbsize()),
            "groups": groups,
            "procs": processes(set(groups.values())),
            "mlflow_db": sum(du(p) for p in mlflow_dir.glob("mlflow.db*")),
            "mlflow_artifacts": du(mlflow_dir / "artifacts"),
            "logs": du(self.home / "logs"),
            "redis_dir": du(self.home / "redis"),
            "kafka_dir": du(self.home / "kafka"),
            "prometheus_dir": du(self.home / "prometheus"),
            "registry": {d: registry(services["mlflow"], d) for d in DOMAINS},
        }


def write(result: dict[str, Any], key: str = "soak") -> None:
    data = json.loads(OUT.read_text()) if OUT.exists() else {}
    data[key] = result
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=2))


def run_soak(
    seconds: float,
    rate: float,
    every: float,
    home: Path | None = None,
    warmup: float = WARMUP_SECONDS,
) -> dict[str, Any]:
    return Soak(home or REPO / ".coelho" / "soak", seconds, rate, every, warmup).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.soak", description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("COELHO_SOAK_SECONDS", 1800))
    )
    rate = float(os.environ.get("COELHO_SOAK_RATE", 100))
    parser.add_argument("--rate", type=float, default=rate,
                        help="events/s per domain")  # fmt: skip
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument("--key", default="soak", help="key in .coelho/bench.json")
    parser.add_argument("--home", type=Path, default=None, help="data directory (wiped)")
    parser.add_argument("--warmup", type=float, default=WARMUP_SECONDS, help="seconds at least")
    args = parser.parse_args(argv)
    result = run_soak(args.seconds, args.rate, args.sample, args.home, args.warmup)
    from tests.bench.__main__ import machine

    result["machine"] = machine()
    write(result, args.key)
    print(table(result))
    print(f"\nwrote {OUT} [{args.key!r}]")
    return 0 if result.get("targets") and all(result["targets"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
