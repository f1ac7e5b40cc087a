"""Apache Kafka 4.1.1 in KRaft mode (one node, broker + controller) on 127.0.0.1.

Real Kafka, not a look-alike: Kafka-compatible brokers from PyPI do not finish consumer-group
joins (see the tooling notes). The jars come from Maven Central through ``pom.xml`` beside this
file and run on the machine's Java 17. The data directory keeps the cluster id, the formatted
log dirs and the generated configs, so a restart keeps every topic and offset.
"""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from coelho.stack.ports import HOST, free_port
from coelho.stack.probes import accepts
from coelho.stack.processes import Child, StartupError

KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("pom.xml")
MARKER_JAR = f"kafka_2.13-{KAFKA_VERSION}.jar"

# Kafka's own loggers are chatty at INFO (one line per partition); warnings are what matter.
LOG4J2 = """\
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.apache.name = org.apache.kafka
logger.apache.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
"""


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH; fails naming both places it looked."""
    home = os.environ.get("JAVA_HOME")
    if home and Path(home, "bin", "java").exists():
        return str(Path(home, "bin", "java"))
    found = shutil.which("java")
    if not found:
        raise StartupError("kafka: no java found in $JAVA_HOME/bin or on PATH (need Java 17+)")
    return found


def jars_present(libs_dir: Path) -> bool:
    return (libs_dir / MARKER_JAR).is_file()


def fetch_jars(libs_dir: Path, *, pom: Path = POM) -> Path:
    """Copy Kafka and its dependencies into ``libs_dir`` with Maven, once.

    Idempotent and safe to run from parallel sessions: a file lock serialises fetches and the
    jars land in a temporary folder renamed into place, so a half-fetched set is never used.
    """
    # Absolute: Maven resolves a relative outputDirectory against the pom's folder, not ours.
    libs_dir = libs_dir.resolve()
    if jars_present(libs_dir):
        return libs_dir
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    with (libs_dir.parent / ".fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if jars_present(libs_dir):
            return libs_dir
        mvn = shutil.which("mvn")
        if not mvn:
            raise StartupError("kafka: `mvn` not on PATH; install Maven (apt-get install maven)")
        staging = libs_dir.with_name(libs_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        argv = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not jars_present(staging):
            raise StartupError(
                f"kafka: Maven could not fetch the jars of {pom}:\n{done.stdout}{done.stderr}"
            )
        shutil.rmtree(libs_dir, ignore_errors=True)
        staging.rename(libs_dir)
    return libs_dir


def new_cluster_id() -> str:
    """A Kafka ``Uuid`` string: URL-safe base64 of 16 random bytes, never starting with '-'."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


RETENTION_HOURS = 24


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """The broker+controller config; every listener is bound to loopback."""
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir / "log"),
        "num.partitions": "3",
        "offsets.topic.num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Kafka is the local event store: 24 h of records (recovery replays from the newest
        # registered snapshot, at most COELHO_SNAPSHOT_MIN_SECONDS old while events flow), in
        # 128 MiB segments so that retention, which drops whole segments, has some to drop.
        "log.retention.hours": str(RETENTION_HOURS),
        "log.segment.bytes": str(128 * 1024 * 1024),
    }
    return "".join(f"{k}={v}\n" for k, v in settings.items())


class KafkaServer:
    """One Kafka node; ``start()`` returns once an admin client can talk to it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        libs_dir: Path | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        log_path: Path | None = None,
        heap: str = "512m",
    ) -> None:
        self.data_dir = data_dir
        self.libs_dir = libs_dir or data_dir / "libs"
        self.port = port or free_port()
        self.controller_port = controller_port or free_port(taken={self.port})
        self.log_path = log_path or data_dir / "kafka.log"
        self.heap = heap
        self.child: Child | None = None

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    def _java(self, main: str, *args: str) -> list[str]:
        log4j = self.data_dir / "config" / "log4j2.properties"
        return [
            java_binary(),
            f"-Xmx{self.heap}",
            "-Xms64m",
            f"-Dlog4j2.configurationFile={log4j}",
            "-cp",
            str(self.libs_dir / "*"),
            main,
            *args,
        ]

    def _configure(self) -> Path:
        config = self.data_dir / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "log4j2.properties").write_text(LOG4J2)
        props = config / "server.properties"
        props.write_text(server_properties(self.data_dir, self.port, self.controller_port))
        return props

    def _format_once(self, props: Path) -> None:
        """Format the log dir with the data dir's cluster id unless it is formatted already."""
        if (self.data_dir / "log" / "meta.properties").exists():
            return
        id_file = self.data_dir / "cluster.id"
        if not id_file.exists():
            id_file.write_text(new_cluster_id() + "\n")
        cluster_id = id_file.read_text().strip()
        argv = self._java(
            "kafka.tools.StorageTool",
            "format",
            "--ignore-formatted",
            "-t",
            cluster_id,
            "-c",
            str(props),
        )
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StartupError(f"kafka: storage format failed:\n{done.stdout}{done.stderr}")

    def start(self, *, timeout: float = 90.0) -> KafkaServer:
        if not jars_present(self.libs_dir):
            raise StartupError(f"kafka: no {MARKER_JAR} in {self.libs_dir}; run fetch_jars first")
        props = self._configure()
        self._format_once(props)
        self.child = Child("kafka", self._java("kafka.Kafka", str(props)), log_path=self.log_path)
        self.child.start()
        self.child.wait_ready(
            lambda: accepts(self.port) and cluster_reachable(self.bootstrap),
            port=self.port,
            timeout=timeout,
            what=f"reachable at {self.bootstrap}",
        )
        return self

    def create_topics(self, topics: Iterable[str], partitions: int = 3) -> list[str]:
        return ensure_topics(self.bootstrap, topics, partitions)

    def stop(self, timeout: float = 30.0) -> None:
        if self.child is not None:
            self.child.stop(timeout)

    def __enter__(self) -> KafkaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cluster_reachable(bootstrap: str) -> bool:
    """True when a Kafka admin client connects and reads cluster metadata."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=5000, client_id="coelho-stack"
    )
    try:
        admin.describe_cluster()
        return True
    finally:
        admin.close()


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int = 3) -> list[str]:
    """Create the missing topics (replication 1); returns the names that were created."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    wanted = set(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="coelho-stack")
    try:
        missing = sorted(wanted - set(admin.list_topics()))
        if missing:
            try:
                admin.create_topics([NewTopic(t, partitions, 1) for t in missing])
            except TopicAlreadyExistsError:
                pass  # another process created one meanwhile: the goal is reached
        _wait_for_leaders(admin, wanted)
        return missing
    finally:
        admin.close()


def _wait_for_leaders(admin: Any, topics: set[str], timeout: float = 60.0) -> None:
    """Return once every partition of ``topics`` has a leader.

    CreateTopics answers before the partitions are led; a consumer group formed in that window
    gets no partition metadata, and kafka-python's leader then assigns nothing.
    """
    deadline = time.monotonic() + timeout
    while True:
        described = admin.describe_topics(sorted(topics))
        ready = all(
            d.get("error_code", 0) == 0
            and d.get("partitions")
            and all(
                p.get("error_code", 0) == 0 and p.get("leader_id", -1) >= 0 for p in d["partitions"]
            )
            for d in described
        )
        if ready:
            return
        if time.monotonic() > deadline:
            raise StartupError(f"kafka: topics {sorted(topics)} have no partition leaders yet")
        time.sleep(0.2)
