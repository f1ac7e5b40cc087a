"""The local stack's bounded footprint: logs rotated by size while a process keeps writing,
Prometheus retention, Redis's memory policy, the data directory's size in ``coelho status``."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from coelho.stack.config import StackConfig
from coelho.stack.housekeeping import Housekeeping
from coelho.stack.logs import data_usage, rotate, rotate_all
from coelho.stack.processes import Child
from coelho.stack.prometheus import PrometheusServer
from coelho.stack.redis import RedisServer
from coelho.stack.render import size, usage_line

WRITER = "import sys, time\nfor i in range(400):\n    print(f'line {i:04d} ' + 'x' * 90)\n"


def test_a_log_written_by_a_live_child_is_rotated_and_keeps_being_written(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "chatty.log"
    script = WRITER.replace("    print", "    time.sleep(0.005); print") + "sys.stdout.flush()\n"
    child = Child("chatty", [sys.executable, "-u", "-c", script], log_path=log).start()
    rotations = 0
    deadline = time.monotonic() + 30
    while child.alive() and time.monotonic() < deadline:
        rotations += rotate(log, max_bytes=4096, keep=2)
        time.sleep(0.02)
    assert child.stop(timeout=5) == 0
    assert rotations >= 3
    names = sorted(p.name for p in log.parent.iterdir())
    assert names == ["chatty.log", "chatty.log.1", "chatty.log.2"]
    # Truncation in place: the child's append-mode writes continue at the start, no hole.
    text = log.read_text()
    assert "\0" not in text and text.endswith("x" * 90 + "\n")
    assert log.stat().st_size < 4096 + 2000
    last = int(text.splitlines()[-1].split()[1])
    assert last == 399


def test_rotation_keeps_the_newest_copies_and_only_touches_big_logs(tmp_path: Path) -> None:
    for generation in range(4):
        (tmp_path / "a.log").write_text(f"generation {generation}\n" * 100)
        (tmp_path / "small.log").write_text("tiny\n")
        assert rotate_all(tmp_path, max_bytes=1000, keep=2) == [tmp_path / "a.log"]
    assert (tmp_path / "a.log").read_text() == ""
    assert (tmp_path / "a.log.1").read_text().startswith("generation 3")
    assert (tmp_path / "a.log.2").read_text().startswith("generation 2")
    assert not (tmp_path / "a.log.3").exists()
    assert (tmp_path / "small.log").read_text() == "tiny\n"
    assert not rotate(tmp_path / "missing.log", 10, 2)


def test_housekeeping_rotates_on_its_schedule(tmp_path: Path) -> None:
    config = StackConfig(repo=tmp_path, home=tmp_path, log_max_bytes=100, log_keep=1)
    config.logs.mkdir()
    (config.logs / "kafka.log").write_text("x" * 500)
    chores = Housekeeping(config)
    chores.tick(now=1000.0)
    assert (config.logs / "kafka.log.1").stat().st_size == 500
    (config.logs / "kafka.log").write_text("y" * 500)
    chores.tick(now=1001.0)  # not due yet
    assert (config.logs / "kafka.log").stat().st_size == 500
    chores.tick(now=1000.0 + 60)
    assert (config.logs / "kafka.log").stat().st_size == 0


def test_stack_limits_come_from_the_environment(tmp_path: Path) -> None:
    env = {"COELHO_HOME": str(tmp_path), "COELHO_REDIS_MAXMEMORY": "1gb",
           "COELHO_LOG_MAX_BYTES": "1000", "COELHO_LOG_KEEP": "5",
           "COELHO_PROMETHEUS_RETENTION": "12h"}  # fmt: skip
    config = StackConfig.from_env(env)
    assert (config.redis_maxmemory, config.log_max_bytes, config.log_keep) == ("1gb", 1000, 5)
    assert config.prometheus_retention == "12h"
    default = StackConfig.from_env({"COELHO_HOME": str(tmp_path)})
    assert (default.redis_maxmemory, default.prometheus_retention) == ("256mb", "2d")


def test_servers_are_started_with_their_bounds(tmp_path: Path) -> None:
    prometheus = PrometheusServer(tmp_path, retention="12h").argv(tmp_path / "p.yml")
    assert "--storage.tsdb.retention.time=12h" in prometheus
    assert any(a.startswith("--storage.tsdb.retention.size=") for a in prometheus)
    redis = RedisServer(tmp_path, maxmemory="64mb").argv()
    assert redis[redis.index("--maxmemory") + 1] == "64mb"
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_data_directory_size_is_counted_like_du(tmp_path: Path) -> None:
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "appendonly.aof").write_bytes(b"x" * 100_000)
    (tmp_path / "logs" / "deep").mkdir(parents=True)
    (tmp_path / "logs" / "deep" / "a.log").write_bytes(b"y" * 10_000)
    (tmp_path / "stack.json").write_text("{}")
    usage = data_usage(tmp_path)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert usage["total"] == sum(p.stat().st_blocks * 512 for p in files)  # what du counts
    assert usage["redis"] >= 100_000 and usage["logs"] >= 10_000
    assert usage_line("/x", usage).startswith(f"data /x: {size(usage['total'])} (redis ")
    assert size(1536) == "1.5 KiB" and size(512) == "512 B" and size(3 * 1024**3) == "3.0 GiB"
