"""``make bench``: run every benchmark, print a table, write ``.coelho/bench.json``.

``COELHO_BENCH_SECTIONS`` (comma-separated, default all:
``learn,models,predict,freshness,lakehouse,batch,soak``) runs only some sections; their results
replace the same keys of an existing bench.json and the rest of it is kept. Freshness at 80 %
of the e2e rate uses this run's learn section, else the e2e rates already in bench.json
(``freshness_e2e_from`` says which).
"""

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


SECTIONS = ("learn", "models", "predict", "freshness", "lakehouse", "batch", "soak")


def sections() -> list[str]:
    raw = os.environ.get("COELHO_BENCH_SECTIONS", ",".join(SECTIONS))
    chosen = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"COELHO_BENCH_SECTIONS: unknown {unknown}; choose from {SECTIONS}")
    return chosen


def main() -> int:
    chosen = sections()
    n = int(os.environ.get("COELHO_BENCH_EVENTS", "4000"))
    repeats = int(os.environ.get("COELHO_BENCH_REPEATS", "3"))
    model_events = int(os.environ.get("COELHO_BENCH_MODEL_EVENTS", "5000"))
    previous = json.loads(OUT.read_text()) if OUT.exists() else {}
    results: dict[str, Any] = {"machine": machine(), "sections": chosen}
    if "models" in chosen:
        print(f"model choice: {model_events} events per pipeline", file=sys.stderr)
        results["models"] = models.compare(model_events)
    if "learn" in chosen:
        print(f"learn path: {n} events per domain, median of {repeats} runs", file=sys.stderr)
        results["learn"] = run_learn_bench(n, repeats)
    if "predict" in chosen:
        from tests.bench.predict import run_predict_bench

        results.update(run_predict_bench())
    if "freshness" in chosen:
        from tests.bench.freshness import run_freshness_bench

        learn = results.get("learn") or previous.get("learn") or {}
        results["freshness_e2e_from"] = "this run" if "learn" in results else "bench.json"
        results["freshness"] = run_freshness_bench({d: r["e2e_eps"] for d, r in learn.items()})
    if "lakehouse" in chosen:
        print("lakehouse: archive and SQL", file=sys.stderr)
        results.update(lakehouse.run_lakehouse_bench())
    if "batch" in chosen:
        from tests.bench.batch import run_batch_bench

        results.update(run_batch_bench())
    # The soak's short form (``make soak`` runs it for 30 min): the whole stack at a fixed rate.
    soak_seconds = float(os.environ.get("COELHO_BENCH_SOAK_SECONDS", "240"))
    if "soak" in chosen and soak_seconds > 0:
        from tests.bench.soak import run_soak

        print(f"soak: {soak_seconds:.0f} s through the whole local stack", file=sys.stderr)
        results["soak"] = {**run_soak(soak_seconds, rate=100.0, every=10.0), "machine": machine()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({**previous, **results}, indent=2))
    print(f"\nMachine: {results['machine']}\n")
    if "learn" in results:
        print(table(results["learn"]))
        print()
    if "models" in results:
        print(models.table(results["models"]))
        print()
    if "archive" in results:
        print(lakehouse.table(results))
    if "batch" in results:
        from tests.bench.batch import table as batch_table

        print("\n" + batch_table(results))
    for key in ("predict", "cold_start_ms", "freshness"):
        if key in results:
            print(f"\n{key}: {json.dumps(results[key])}")
    if "soak" in results:
        from tests.bench.soak_analysis import table as soak_table

        print("\n" + soak_table(results["soak"]))
    print(f"\nwrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
