"""``make bench``: run every benchmark, print a table, write ``.coelho/bench.json``."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from tests.bench import lakehouse, models
from tests.bench.learn import run_learn_bench

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / ".coelho" / "bench.json"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} vCPU {cpu}, Python {platform.python_version()}"


def table(learn: dict[str, dict[str, float]]) -> str:
    cols = ("e2e_eps", "floor_eps", "ff_default_eps", "inprocess_eps", "ratio", "durable_floor_eps")
    lines = ["| domain | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for domain, row in learn.items():
        lines.append(f"| {domain} | " + " | ".join(f"{row[c]:,}" for c in cols) + " |")
    return "\n".join(lines)


def main() -> int:
    n = int(os.environ.get("COELHO_BENCH_EVENTS", "4000"))
    repeats = int(os.environ.get("COELHO_BENCH_REPEATS", "3"))
    model_events = int(os.environ.get("COELHO_BENCH_MODEL_EVENTS", "5000"))
    print(f"model choice: {model_events} events per pipeline", file=sys.stderr)
    choice = models.compare(model_events)
    print(f"learn path: {n} events per domain, median of {repeats} runs", file=sys.stderr)
    results: dict[str, Any] = {"machine": machine(), "learn": run_learn_bench(n, repeats),
                               "models": choice}  # fmt: skip
    try:
        from tests.bench.predict import run_predict_bench
    except ImportError:
        pass
    else:
        results.update(run_predict_bench())
    print("lakehouse: archive and SQL", file=sys.stderr)
    results.update(lakehouse.run_lakehouse_bench())
    # The soak's short form (``make soak`` runs it for 30 min): the whole stack at a fixed rate.
    soak_seconds = float(os.environ.get("COELHO_BENCH_SOAK_SECONDS", "240"))
    if soak_seconds > 0:
        from tests.bench.soak import run_soak

        print(f"soak: {soak_seconds:.0f} s through the whole local stack", file=sys.stderr)
        results["soak"] = {**run_soak(soak_seconds, rate=100.0, every=10.0), "machine": machine()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"\nMachine: {results['machine']}\n")
    print(table(results["learn"]))
    print()
    print(models.table(choice))
    print()
    print(lakehouse.table(results))
    for key in ("predict", "cold_start_ms"):
        if key in results:
            print(f"\n{key}: {json.dumps(results[key])}")
    if "soak" in results:
        from tests.bench.soak_analysis import table as soak_table

        print("\n" + soak_table(results["soak"]))
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
