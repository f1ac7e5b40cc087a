"""The real servers behind the fixtures and ``coelho up``: Kafka groups work, Redis persists."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from coelho.stack.kafka import KafkaServer, ensure_topics, fetch_jars
from coelho.stack.ports import free_port, port_is_free
from coelho.stack.processes import pid_alive
from coelho.stack.redis import RedisServer

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_kafka_consumer_group_reads_what_was_produced(kafka_bootstrap: str) -> None:
    """Checks that a consumer GROUP (not just assigned partitions) joins and reads every record."""
    from kafka import KafkaConsumer, KafkaProducer

    topic = f"t-{uuid.uuid4().hex[:8]}"
    assert ensure_topics(kafka_bootstrap, [topic]) == [topic]
    assert ensure_topics(kafka_bootstrap, [topic]) == []
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    sent = {f"r{i}".encode() for i in range(30)}
    for value in sent:
        producer.send(topic, value, key=value)
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=30_000,
    )
    seen: set[bytes] = set()
    partitions: set[int] = set()
    for record in consumer:
        seen.add(record.value)
        partitions.add(record.partition)
        if seen == sent:
            break
    consumer.commit()
    consumer.close()
    assert seen == sent
    assert len(partitions) > 1, "topics are created with 3 partitions"


def test_redis_client_starts_empty(redis_client: Any) -> None:
    redis_client.set("coelho:probe", "1")
    assert redis_client.dbsize() == 1


def test_redis_client_is_flushed_between_tests(redis_client: Any) -> None:
    assert redis_client.get("coelho:probe") is None


def test_redis_keeps_data_across_restart(tmp_path: Path) -> None:
    """Checks the AOF: what was written before a stop is there after a start on the same dir."""
    import redis

    with RedisServer(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.xadd("coelho:tfd:log", {"e": "1"})
        client.close()
        pid = server.child.pid if server.child else None
    assert pid is not None and not pid_alive(pid)
    with RedisServer(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.xlen("coelho:tfd:log") == 1
        client.close()


def test_kafka_keeps_topics_across_restart(tmp_path: Path) -> None:
    """Checks that a restart on the same data dir reuses the cluster id and the topics."""
    libs = fetch_jars(REPO / ".coelho" / "kafka" / "libs")
    with KafkaServer(tmp_path, libs_dir=libs) as server:
        ensure_topics(server.bootstrap, ["kept"])
        pid = server.child.pid if server.child else None
    cluster_id = (tmp_path / "cluster.id").read_text()
    assert pid is not None and not pid_alive(pid)
    with KafkaServer(tmp_path, libs_dir=libs) as server:
        assert ensure_topics(server.bootstrap, ["kept"]) == []
    assert (tmp_path / "cluster.id").read_text() == cluster_id


def test_free_port_prefers_the_default_until_it_is_taken(redis_url: str) -> None:
    taken = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    assert not port_is_free(taken)
    assert free_port(taken) != taken
    spare = free_port()
    assert free_port(spare) == spare


def test_serve_function_serves_a_ready_function(serve_function: Any) -> None:
    """Checks the fixture contract: a base URL whose readiness probe answers 200."""
    from coelho.stack.probes import http_ok

    base_url = serve_function("learn-tfd")
    assert base_url.startswith("http://127.0.0.1:")
    assert http_ok(f"{base_url}/health/readiness")
    with pytest.raises(FileNotFoundError, match="no-such-function"):
        serve_function("no-such-function")


def test_a_stranger_on_our_port_does_not_pass_readiness(redis_url: str, tmp_path: Path) -> None:
    """Checks the ownership probe: a PING answered by another process is not our readiness."""
    from coelho.stack.processes import Child, StartupError
    from coelho.stack.redis import ping

    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    assert ping(redis_url)
    impostor = Child("impostor", ["sleep", "30"], log_path=tmp_path / "i.log").start()
    with pytest.raises(StartupError, match="impostor: not answering"):
        impostor.wait_ready(lambda: ping(redis_url), port=port, timeout=2, what="answering")
    assert not impostor.alive()


def test_supervisor_moves_a_server_off_a_port_taken_meanwhile(
    redis_url: str, tmp_path: Path
) -> None:
    """Checks the clash path: redis on a busy default port fails, then starts on a free one."""
    from coelho.stack.config import StackConfig
    from coelho.stack.redis import ping
    from coelho.stack.supervisor import Supervisor

    taken = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    config = StackConfig(repo=REPO, home=tmp_path)
    supervisor = Supervisor(config, producers=False)
    servers: list[RedisServer] = []

    def start(port: int) -> RedisServer:
        servers.append(RedisServer(tmp_path / "redis", port=port, log_path=tmp_path / "r.log"))
        return servers[-1].start(timeout=20)

    try:
        server = supervisor._on_ports("redis", [taken], start)
        assert server.port != taken and ping(server.url)
        assert len(servers) == 2 and "Address already in use" in (tmp_path / "r.log").read_text()
    finally:
        for each in servers:
            each.stop()
