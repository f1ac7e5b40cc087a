"""End to end through the real supervisor: ``coelho up --detach``, produce, status, down.

Everything is real: Kafka, Redis, Prometheus, the functions and the eventing emulator all run
as children of a detached supervisor in a temporary ``COELHO_HOME``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from coelho.domains import REGISTRY
from coelho.stack.config import FUNCTIONS
from coelho.stack.kafka import fetch_jars
from coelho.stack.probes import http_ok_quiet
from coelho.stack.processes import pid_alive

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COUNT = 200


def coelho(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run the CLI as a user would; fail with its output when it exits non-zero."""
    done = subprocess.run(
        [sys.executable, "-m", "coelho.cli", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"coelho {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An environment for a stack in a fresh home, reusing the clone's Kafka jars."""
    home = tmp_path / "home"
    (home / "kafka").mkdir(parents=True)
    (home / "kafka" / "libs").symlink_to(fetch_jars(REPO / ".coelho" / "kafka" / "libs"))
    env = {k: v for k, v in os.environ.items() if k not in {"COELHO_KAFKA_BOOTSTRAP",
                                                            "COELHO_REDIS_URL"}}  # fmt: skip
    env.update(COELHO_HOME=str(home), COELHO_REPO=str(REPO), COELHO_CHECKPOINT_EVERY="50")
    yield env
    # Whatever happened, leave no stack behind.
    subprocess.run([sys.executable, "-m", "coelho.cli", "down"], env=env, timeout=180, check=False)


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            pytest.fail(f"not true after waiting {timeout} s")
        time.sleep(0.5)


def status(env: dict[str, str]) -> dict[str, Any]:
    return json.loads(coelho(env, "status", "--json"))


def test_detached_stack_learns_every_produced_event_and_stops(stack_env: dict[str, str]) -> None:
    out = coelho(stack_env, "up", "--detach", "--no-producers", timeout=600)
    assert "\u2713 kafka" in out and "prometheus" in out

    home = Path(stack_env["COELHO_HOME"])
    stack = json.loads((home / "stack.json").read_text())
    pids = [stack["pid"], *stack["pids"].values()]
    assert all(pid_alive(p) for p in pids)

    first = status(stack_env)
    services = first["services"]
    assert services["kafka"].startswith("127.0.0.1:")
    assert services["redis"].startswith("redis://127.0.0.1:")
    for name in ("emulator", "prometheus", *(f.name for f in FUNCTIONS)):
        assert services[name].startswith("http://127.0.0.1:"), name
    assert set(first["domains"]) == set(REGISTRY)
    assert json.loads((home / "services.json").read_text()) == {
        f.name: services[f.name] for f in FUNCTIONS
    }
    usage = first["data"]["bytes"]
    assert first["data"]["home"] == str(home) and usage["redis"] > 0 and usage["logs"] > 0
    assert usage["total"] == sum(v for k, v in usage.items() if k != "total")
    assert f"data {home}: " in coelho(stack_env, "status")
    client = redis.Redis.from_url(services["redis"], decode_responses=True)
    assert client.config_get("maxmemory") == {"maxmemory": str(256 * 1024**2)}  # 256mb
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    client.close()

    before = {k: first["domains"][k]["events_learned"] for k in REGISTRY}
    for key in REGISTRY:
        out = coelho(stack_env, "produce", key, "--count", str(COUNT), "--seed", "1", "--rate", "0")
        assert f"sent {COUNT}" in out

    deadline = time.monotonic() + 120
    while True:
        domains = status(stack_env)["domains"]
        learned = {k: domains[k]["events_learned"] - before[k] for k in REGISTRY}
        if all(n >= COUNT for n in learned.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert learned == {k: COUNT for k in REGISTRY}
    assert {k: domains[k]["dead_lettered"] for k in REGISTRY} == {k: 0 for k in REGISTRY}

    # A crashed function comes back: the supervisor restarts it and logs why.
    victim = stack["pids"]["learn-tfd"]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:
        pids_now = json.loads((home / "stack.json").read_text())["pids"]
        if pids_now["learn-tfd"] != victim or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert pids_now["learn-tfd"] != victim
    pids.append(pids_now["learn-tfd"])
    wait_for(lambda: http_ok_quiet(f"{services['learn-tfd']}/health/readiness"), 60)
    assert "learn-tfd exited" in (home / "logs" / "supervisor.log").read_text()

    coelho(stack_env, "down", timeout=180)
    assert [p for p in pids if pid_alive(p)] == []
    assert not (home / "stack.json").exists()
