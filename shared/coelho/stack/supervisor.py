"""The supervisor behind ``coelho up``: start the stack in order, keep it up, stop it in reverse.

Order: Kafka -> Redis -> S3 (MinIO) -> MLflow -> functions -> services.json -> jobs.json (the
JobSinks' local commands) -> eventing emulator -> producers -> Prometheus (scrapes functions,
emulator and producers) -> dashboard. A child that dies is restarted with backoff (``watch``).
SIGINT/SIGTERM stop everything, last started first. Each server gets its stable default port
when free; if another process grabs it between our check and the child's bind, the server
moves to a free port.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO, TypeVar

from coelho.settings import StackStorage
from coelho.stack import stackfile
from coelho.stack.config import (
    DASH_PORT,
    EMULATOR_PORT,
    JOBS,
    KAFKA_CONTROLLER_PORT,
    KAFKA_PORT,
    MLFLOW_PORT,
    PROMETHEUS_PORT,
    REDIS_PORT,
    S3_CONSOLE_PORT,
    S3_PORT,
    StackConfig,
    dash_argv,
    function_argv,
)
from coelho.stack.housekeeping import Housekeeping
from coelho.stack.kafka import KafkaServer, ensure_topics, fetch_jars, jars_present
from coelho.stack.mlflow import MlflowServer
from coelho.stack.ports import HOST, free_port, port_is_free
from coelho.stack.probes import http_ok, http_ok_quiet
from coelho.stack.processes import Child, StartupError
from coelho.stack.prometheus import PrometheusServer
from coelho.stack.redis import RedisServer, ping
from coelho.stack.render import progress_line, services_table
from coelho.stack.s3 import S3Server, lakehouse_env
from coelho.stack.s3 import external_env as external_s3_env
from coelho.stack.watch import Component, restart_dead

log = logging.getLogger("coelho.stack")
T = TypeVar("T")


class Supervisor:
    """Owns every child of one local stack; ``run()`` blocks until a stop signal."""

    def __init__(
        self, config: StackConfig, *, producers: bool = True, out: TextIO = sys.stdout
    ) -> None:
        self.config = config
        self.producers = producers
        self.out = out
        self.components: list[Component] = []
        self.state = "starting"
        self.error: str | None = None
        self._stop = False
        self._taken: set[int] = set()
        self.s3_env: dict[str, str] = {}
        self.s3_metrics: str | None = None  # host:port/path of a MinIO we started
        self.housekeeping = Housekeeping(config)

    # -- bookkeeping -------------------------------------------------------------------------
    def _port(self, preferred: int | None) -> int:
        port = free_port(preferred, taken=self._taken)
        self._taken.add(port)
        return port

    def services(self) -> dict[str, str]:
        return {c.name: c.address for c in self.components if c.address}

    def publish(self) -> None:
        progress = [
            {"name": c.name, "address": c.address, "seconds": round(c.seconds, 2)}
            for c in self.components
        ]
        stackfile.write(
            self.config.stack_file,
            {
                "pid": os.getpid(),
                "state": self.state,
                "error": self.error,
                "home": str(self.config.home),
                "services": self.services(),
                "pids": {c.name: c.child.pid for c in self.components if c.child},
                "progress": progress,
            },
        )

    def _ready(self, component: Component, t0: float) -> None:
        component.seconds = time.monotonic() - t0
        self.components.append(component)
        print(progress_line(component.name, component.address, component.seconds), file=self.out)
        self.out.flush()
        self.publish()

    def _child(self, name: str, argv: list[str], **kwargs: Any) -> Child:
        return Child(name, argv, log_path=self.config.logs / f"{name}.log", **kwargs)

    def _on_ports(self, name: str, ports: list[int], start: Callable[..., T]) -> T:
        """``start(*ports)``, or once more on free ports if another process took one meanwhile.

        Another stack may bind a default port between our check and our child's bind; the
        child then exits, or the ownership probe refuses the stranger, and the port is busy.
        """
        try:
            return start(*ports)
        except StartupError:
            if all(port_is_free(p) for p in ports):
                raise  # a real failure, not a port taken by someone else
        log.warning("%s: port(s) %s taken by another process; moving to free ports", name, ports)
        return start(*(self._port(None) for _ in ports))

    # -- start -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every component in order; on failure stop what started and re-raise."""
        self.config.logs.mkdir(parents=True, exist_ok=True)
        self.publish()
        try:
            bootstrap = self._start_kafka()
            redis_url = self._start_redis()
            registry_env = self._start_registry()
            self._start_functions(redis_url, registry_env)
            self._write_jobs(redis_url, registry_env)
            self._start_emulator(bootstrap, redis_url)
            if self.producers:
                self._start_producers(bootstrap)
            self._start_prometheus()
            self._start_dash()
        except BaseException as exc:
            self.error = str(exc)
            self.state = "failed"
            self.publish()
            self.stop()
            raise
        self.state = "ready"
        self.publish()

    def _start_kafka(self) -> str:
        t0 = time.monotonic()
        topics = self._topics()
        if self.config.external_kafka:
            ensure_topics(self.config.external_kafka, topics)
            self._ready(Component("kafka", self.config.external_kafka), t0)
            return self.config.external_kafka
        if not jars_present(self.config.kafka_libs):
            print("  … fetching Kafka jars with Maven (once)", file=self.out, flush=True)
        libs = fetch_jars(self.config.kafka_libs)

        def start(port: int, controller_port: int) -> KafkaServer:
            server = KafkaServer(
                self.config.home / "kafka",
                libs_dir=libs,
                port=port,
                controller_port=controller_port,
                log_path=self.config.logs / "kafka.log",
            )
            return server.start()

        server = self._on_ports(
            "kafka", [self._port(KAFKA_PORT), self._port(KAFKA_CONTROLLER_PORT)], start
        )
        server.create_topics(topics)
        self._ready(Component("kafka", server.bootstrap, server.child), t0)
        return server.bootstrap

    def _topics(self) -> set[str]:
        from coelho.domains import REGISTRY

        return {d.topic for d in REGISTRY.values()} | self.config.kafka_source_topics()

    def _start_redis(self) -> str:
        t0 = time.monotonic()
        external = self.config.external_redis
        if external:
            if not ping(external):
                raise StartupError(f"redis: no PONG from COELHO_REDIS_URL={external}")
            self._ready(Component("redis", external), t0)
            return external

        def start(port: int) -> RedisServer:
            log_path = self.config.logs / "redis.log"
            return RedisServer(self.config.home / "redis", port=port, log_path=log_path,
                               maxmemory=self.config.redis_maxmemory).start()  # fmt: skip

        server = self._on_ports("redis", [self._port(REDIS_PORT)], start)
        self._ready(Component("redis", server.url, server.child), t0)
        return server.url

    def _start_registry(self) -> dict[str, str]:
        """S3 (MinIO here unless ``COELHO_S3_ENDPOINT`` names one), then MLflow over it."""
        t0 = time.monotonic()
        storage = StackStorage.from_env()
        if storage.s3_endpoint:
            s3 = external_s3_env(storage.s3_endpoint, os.environ)
            self._ready(Component("s3", storage.s3_endpoint), t0)
        else:

            def start_s3(port: int, console_port: int) -> S3Server:
                log_path = self.config.logs / "s3.log"
                home = self.config.home
                return S3Server(home / "s3", port=port, home=home, log_path=log_path,
                                console_port=console_port).start()  # fmt: skip

            ports = [self._port(S3_PORT), self._port(S3_CONSOLE_PORT)]
            server = self._on_ports("s3", ports, start_s3)
            self.s3_metrics = server.metrics_target
            self._ready(Component("s3", server.endpoint, server.child), t0)
            self.components.append(Component("minio-console", server.console_url))
            s3 = server.env()
        self.s3_env = s3

        def start(port: int) -> MlflowServer:
            log_path = self.config.logs / "mlflow.log"
            artifacts = s3 if storage.artifacts == "s3" else None
            mlflow = MlflowServer(self.config.home / "mlflow", port=port, s3=artifacts,
                                  log_path=log_path)  # fmt: skip
            return mlflow.start()

        mlflow = self._on_ports("mlflow", [self._port(MLFLOW_PORT)], start)
        self.housekeeping.mlflow = mlflow
        self._ready(Component("mlflow", mlflow.url, mlflow.child), t0)
        return {"MLFLOW_TRACKING_URI": mlflow.url, "MLFLOW_DISABLE_TELEMETRY": "true"}

    def _start_functions(self, redis_url: str, extra_env: dict[str, str]) -> None:
        """Launch every function at once (imports are slow), then wait for each in table order."""
        t0 = time.monotonic()
        specs = {spec.name: spec for spec in self.config.functions}
        launched: list[Component] = []

        def launch(name: str, port: int) -> Component:
            spec = specs[name]
            argv = function_argv(self.config.function_source(spec), port)
            env = {**self.config.function_env(spec, redis_url), **extra_env}
            if spec.s3:
                env.update(lakehouse_env(self.s3_env))
            child = self._child(name, argv, env=env, cwd=self.config.repo).start()
            launched.append(Component(name, f"http://{HOST}:{port}", child))
            return launched[-1]

        def wait(comp: Component, port: int) -> Component:
            assert comp.child is not None
            ready = specs[comp.name].ready
            comp.child.wait_ready(
                lambda: http_ok(f"{comp.address}{ready}"),
                port=port,
                timeout=90,
                what=f"ready (GET {ready} == 200)",
            )
            return comp

        ports = {name: self._port(spec.port) for name, spec in specs.items()}
        first = {name: launch(name, port) for name, port in ports.items()}
        try:
            for name, port in ports.items():

                def attempt(p: int, name: str = name) -> Component:
                    return wait(first[name] if p == ports[name] else launch(name, p), p)

                self._ready(self._on_ports(name, [port], attempt), t0)
        finally:
            for comp in launched:
                if comp not in self.components and comp.child is not None:
                    comp.child.stop(timeout=5)
        functions = {c.name: c.address for c in self.components if c.name in specs}
        self.config.services_file.write_text(json.dumps(functions, indent=2) + "\n")

    def _serve_http(
        self, name: str, preferred: int, argv: Callable[[int], list[str]], probe: str, **kw: Any
    ) -> None:
        """Start an HTTP child on a port and wait until ``GET <probe>`` answers 200."""
        t0 = time.monotonic()

        def start(port: int) -> Component:
            address = f"http://{HOST}:{port}"
            child = self._child(name, argv(port), **kw).start()
            child.wait_ready(lambda: http_ok(address + probe), port=port, timeout=60,
                             what=f"ready (GET {probe} == 200)")  # fmt: skip
            return Component(name, address, child)

        self._ready(self._on_ports(name, [self._port(preferred)], start), t0)

    def _write_jobs(self, redis_url: str, extra_env: dict[str, str]) -> None:
        """The JobSinks' local commands for the emulator (0600: it holds S3 credentials)."""
        jobs = {}
        for spec in JOBS:
            env = {"COELHO_REDIS_URL": redis_url, "COELHO_STATE_KEY": self.config.state_key(),
                   "PYTHONUNBUFFERED": "1", **extra_env}  # fmt: skip
            if spec.s3:
                env.update(lakehouse_env(self.s3_env))
            jobs[spec.name] = {"argv": self.config.job_argv(spec), "cwd": str(self.config.repo),
                               "env": env, "logs": str(self.config.logs / "jobs")}  # fmt: skip
        path = self.config.jobs_file
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(json.dumps(jobs, indent=2) + "\n")

    def _start_emulator(self, bootstrap: str, redis_url: str) -> None:
        def argv(port: int) -> list[str]:
            return [sys.executable, "-m", "coelho.eventing", "--bootstrap", bootstrap,
                    "--manifests", str(self.config.repo / "eventing"), "--control-port", str(port),
                    "--services", str(self.config.services_file),
                    "--jobs", str(self.config.jobs_file), "--redis", redis_url]  # fmt: skip

        self._serve_http("emulator", EMULATOR_PORT, argv, "/health")

    def _start_producers(self, bootstrap: str) -> None:
        from coelho.domains import REGISTRY

        for key in REGISTRY:
            t0 = time.monotonic()
            name = f"producer-{key}"

            def start(port: int, key: str = key, name: str = name) -> Component:
                # Endless, so at the seed's pace; /metrics for Prometheus, ready once Kafka
                # answered for the topic.
                argv = [sys.executable, "-m", "coelho.producer", key, "--bootstrap", bootstrap,
                        "--metrics-port", str(port)]  # fmt: skip
                address = f"http://{HOST}:{port}"
                child = self._child(name, argv).start()
                probe = "/health/readiness"
                child.wait_ready(lambda: http_ok(address + probe), port=port, timeout=60,
                                 what=f"ready (GET {probe} == 200)")  # fmt: skip
                return Component(name, address, child, finished_ok=True)

            self._ready(self._on_ports(name, [self._port(None)], start), t0)

    def _start_prometheus(self) -> None:
        t0 = time.monotonic()
        names = {spec.name for spec in self.config.functions}
        targets = {
            c.name: c.address.removeprefix("http://")
            for c in self.components
            if c.name in names or (c.name.startswith("producer-") and c.address)
        }
        if self.s3_metrics:  # MinIO's own metrics, for the MinIO dashboard (service="minio")
            targets["minio"] = self.s3_metrics
        emulator = next((c for c in self.components if c.name == "emulator"), None)
        if emulator is not None and http_ok_quiet(f"{emulator.address}/metrics"):
            targets["emulator"] = emulator.address.removeprefix("http://")

        def start(port: int) -> PrometheusServer:
            log_path = self.config.logs / "prometheus.log"
            server = PrometheusServer(self.config.home / "prometheus", port=port, log_path=log_path,
                                      retention=self.config.prometheus_retention)  # fmt: skip
            return server.start(targets, self.config.repo / "knative")

        server = self._on_ports("prometheus", [self._port(PROMETHEUS_PORT)], start)
        self._ready(Component("prometheus", server.url, server.child), t0)

    def _start_dash(self) -> None:
        """The dashboard, last: it links to every service started before it."""
        env = self.config.dash_env(self.services())
        self._serve_http("dash", DASH_PORT, dash_argv, "/", env=env, cwd=self.config.repo)

    # -- run ---------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True
        if self.state == "starting":
            raise KeyboardInterrupt(f"signal {signum} while starting")

    def run(self) -> int:
        """Start, print the table, watch children until SIGINT/SIGTERM, then stop them all."""
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self.start()
        except KeyboardInterrupt:
            return 130
        print("\n" + services_table(self.services()), file=self.out)
        print(f"\nlogs: {self.config.logs}   stop: Ctrl-C or `coelho down`", file=self.out)
        self.out.flush()
        try:
            while not self._stop:
                if restart_dead(self.components):
                    self.publish()
                self.housekeeping.tick()
                time.sleep(0.5)
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        """Stop every child, last started first, then remove the stack file."""
        self.state = "stopping"
        self.publish()
        for comp in reversed(self.components):
            if comp.child is not None and comp.child.proc is not None:
                code = comp.child.stop(timeout=30 if comp.name == "kafka" else 15)
                log.info("stopped %s (exit %s)", comp.name, code)
        self.components.clear()
        self.config.stack_file.unlink(missing_ok=True)
