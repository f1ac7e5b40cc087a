"""Wire manifests to running parts: brokers, KafkaSource runners, PingSource runners, control.

``Emulator(manifests_dir, bootstrap, services).start()`` resolves every destination first, so a
Trigger pointing at an unknown Service fails before anything runs. The KafkaSources'
``bootstrapServers`` are cluster addresses; locally they are replaced by ``bootstrap`` (logged).
JobSinks run the local command the ``jobs`` map gives them (coelho.eventing.jobsink) behind an
HTTP endpoint of the control server, which then always runs (it is also the Brokers' ingress).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from coelho.eventing import manifests as loader
from coelho.eventing import model as m
from coelho.eventing.broker import InProcessBroker, Route
from coelho.eventing.cloudevent import Event
from coelho.eventing.control import ControlServer
from coelho.eventing.delivery import Deliverer
from coelho.eventing.errors import ResolutionError
from coelho.eventing.jobsink import JobCommand, JobSinkRunner
from coelho.eventing.kafkasource import HIGH_WATER, LOW_WATER, SourceRunner
from coelho.eventing.ping import PingRunner
from coelho.eventing.resolve import BrokerKey, Resolver, ping_plan, source_plan, trigger_plan
from coelho.eventing.stats import Counters

log = logging.getLogger(__name__)


class Emulator:
    def __init__(
        self,
        manifests_dir: str | Path,
        bootstrap: str,
        services: Mapping[str, str],
        *,
        namespace_default: str = "coelho",
        control_port: int | None = None,
        commit_interval: float = 1.0,
        max_in_flight: int = 64,
        pool_size: int = 16,
        sleep: Callable[[float], bool] | None = None,
        queue_limits: tuple[int, int] = (HIGH_WATER, LOW_WATER),
        consumer_options: dict[str, Any] | None = None,
        replays: Callable[[str], dict[int, int] | None] | None = None,
        jobs: Mapping[str, JobCommand] | None = None,
    ) -> None:
        self.manifests = loader.load(manifests_dir, namespace_default)
        self.bootstrap = bootstrap
        self.deliverer = Deliverer(sleep=sleep)
        self._pool = ThreadPoolExecutor(pool_size, thread_name_prefix="eventing-broker")
        self._stop = threading.Event()
        self.control: ControlServer | None = None
        self.job_sinks: dict[BrokerKey, JobSinkRunner] = {}
        job_urls: dict[BrokerKey, str] = {}
        if self.manifests.job_sinks or control_port is not None:
            self.control = ControlServer(self, control_port or 0)  # bound now, served at start
            for sink in self.manifests.job_sinks:
                key = BrokerKey(sink.meta.namespace, sink.meta.name)
                self.job_sinks[key] = JobSinkRunner(sink, self._job_command(sink, jobs or {}))
                job_urls[key] = f"http://127.0.0.1:{self.control.port}/jobsinks/" + (
                    f"{key.namespace}/{key.name}"
                )
        resolver = Resolver(
            services,
            {BrokerKey(b.meta.namespace, b.meta.name) for b in self.manifests.brokers},
            job_urls,
        )
        self.brokers: dict[BrokerKey, InProcessBroker] = {}
        for broker in self.manifests.brokers:
            routes = [
                Route(t, trigger_plan(resolver, broker, t))
                for t in self.manifests.triggers
                if (t.broker_namespace, t.broker) == (broker.meta.namespace, broker.meta.name)
            ]
            key = BrokerKey(broker.meta.namespace, broker.meta.name)
            self.brokers[key] = InProcessBroker(broker, routes, self.deliverer, self._pool)
        self.sources: dict[str, SourceRunner] = {}
        for source in self.manifests.kafka_sources:
            dispatch = self._sink(resolver, source)
            runner = SourceRunner(
                source,
                bootstrap,
                dispatch,
                commit_interval=commit_interval,
                max_in_flight=max_in_flight,
                high_water=queue_limits[0],
                low_water=queue_limits[1],
                consumer_options=consumer_options,
                replays=replays,
            )
            self.sources[runner.name] = runner
        self.pings = [
            PingRunner(p, self._ping_sender(resolver, p), self._stop)
            for p in self.manifests.ping_sources
        ]

    # -- wiring ----------------------------------------------------------------------------
    @staticmethod
    def _job_command(sink: m.JobSink, jobs: Mapping[str, JobCommand]) -> JobCommand:
        found = jobs.get(f"{sink.meta.namespace}/{sink.meta.name}") or jobs.get(sink.meta.name)
        if found is None:
            known = ", ".join(sorted(jobs)) or "none"
            raise ResolutionError(
                f"{sink.meta.where}: no local command for JobSink {sink.meta.name!r} in the "
                f"jobs map (known: {known})"
            )
        return found

    def _sink(
        self, resolver: Resolver, source: m.KafkaSource
    ) -> Callable[[Event, Sequence[Counters]], bool]:
        target = resolver.target(source.sink, f"{source.meta.where}: spec.sink")
        if isinstance(target, BrokerKey):
            self._check_ordering(source, self.brokers[target])
            return self.brokers[target].dispatch
        plan = source_plan(resolver, source, target)
        deliverer = self.deliverer
        return lambda event, counters: deliverer.deliver(event, plan, counters).outcome.done

    def _ping_sender(self, resolver: Resolver, source: m.PingSource) -> Callable[[Event], None]:
        target = resolver.target(source.sink, f"{source.meta.where}: spec.sink")
        if isinstance(target, BrokerKey):
            return self.brokers[target].publish
        plan = ping_plan(target)

        def send(event: Event) -> None:
            self.deliverer.deliver(event, plan)

        return send

    @staticmethod
    def _check_ordering(source: m.KafkaSource, broker: InProcessBroker) -> None:
        """Trigger ordering is emulated through the source's; say so when they disagree."""
        if source.ordering == "ordered":
            return
        for route in broker.routes:
            if route.trigger.ordered:
                log.warning(
                    "Trigger %s is ordered but KafkaSource %s is unordered: the emulator "
                    "orders per source partition only, so the Trigger sees that source's "
                    "events in completion order",
                    route.name,
                    source.meta.name,
                )

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Emulator:
        for name, runner in self.sources.items():
            log.info(
                "KafkaSource %s: bootstrapServers %s replaced by local %s",
                name,
                list(runner.source.bootstrap_servers),
                self.bootstrap,
            )
            runner.start()
        for ping in self.pings:
            ping.start()
        if self.control is not None:
            self.control.start()
            log.info("control endpoint on http://127.0.0.1:%d", self.control.port)
        log.info(
            "emulating %d broker(s), %d trigger(s), %d KafkaSource(s), %d PingSource(s), "
            "%d JobSink(s)",
            len(self.brokers),
            sum(len(b.routes) for b in self.brokers.values()),
            len(self.sources),
            len(self.pings),
            len(self.job_sinks),
        )
        return self

    def wait_assigned(self, timeout: float = 60.0) -> bool:
        """Wait until every KafkaSource has its partitions (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        return all(
            r.wait_assigned(max(0.0, deadline - time.monotonic())) for r in self.sources.values()
        )

    def stop(self, grace: float = 5.0) -> None:
        """Stop fetching, abandon retry waits, give in-flight requests ``grace`` s, commit."""
        self._stop.set()
        self.deliverer.stopping.set()
        for runner in self.sources.values():
            runner.request_stop(grace)
        for runner in self.sources.values():
            runner.join(grace + 30.0)
        for ping in self.pings:
            ping.join(1.0)
        for sink in self.job_sinks.values():
            sink.stop(grace)
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.control is not None:
            self.control.stop()
        log.info("emulator stopped")

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control ---------------------------------------------------------------------------
    def source_key(self, name: str) -> str:
        """``name`` or ``namespace/name`` -> the runner key; KeyError naming the known ones."""
        if name in self.sources:
            return name
        matches = [k for k in self.sources if k.split("/", 1)[1] == name]
        if len(matches) != 1:
            raise KeyError(f"no KafkaSource {name!r} (known: {', '.join(sorted(self.sources))})")
        return matches[0]

    def pause(self, name: str, wait: float | None = None) -> bool:
        """Stop fetching and starting records; True once idle and committed (if ``wait``)."""
        runner = self.sources[self.source_key(name)]
        runner.pause()
        if wait is None:
            return runner.idle()
        deadline = time.monotonic() + wait
        while not runner.idle():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def resume(self, name: str) -> None:
        self.sources[self.source_key(name)].resume()

    def stats(self) -> dict[str, Any]:
        return {
            "sources": {name: r.status() for name, r in self.sources.items()},
            "triggers": {
                route.name: route.counters.snapshot()
                for b in self.brokers.values()
                for route in b.routes
            },
            "brokers": {b.name: b.counters.snapshot() for b in self.brokers.values()},
            "pings": {
                p.name: {"ticks": p.ticks, "schedule": p.source.schedule} for p in self.pings
            },
            "job_sinks": {runner.name: runner.stats() for runner in self.job_sinks.values()},
        }

    def broker(self, namespace: str, name: str) -> InProcessBroker | None:
        return self.brokers.get(BrokerKey(namespace, name))

    def job_sink(self, namespace: str, name: str) -> JobSinkRunner | None:
        return self.job_sinks.get(BrokerKey(namespace, name))
