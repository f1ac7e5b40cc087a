"""A real local stack and a real headless Chromium for the dashboard's browser tests.

``stack`` (session): Kafka and Redis on free loopback ports, then ``coelho up --detach
--no-producers`` in a temporary ``COELHO_HOME`` pointed at them (so nothing else on the
machine can write into this stack's topics or state), seeded with a first batch of events per
domain so that every predict function has a model; ``coelho down`` at the end. The dashboard
is the one the stack itself starts, with map tiles off so the page sends loopback traffic only.

``driver`` (session): Debian's ``/usr/bin/chromium`` through ``/usr/bin/chromedriver``
(Selenium), headless, with browser and network logs. Screenshots go to
``<repo>/.coelho/screenshots/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from coelho.domains import REGISTRY
from coelho.stack.kafka import KafkaServer, fetch_jars
from coelho.stack.redis import RedisServer
from tests.browser.dom import wait_until

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".coelho" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SEED_EVENTS = 600


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser" in Path(str(item.fspath)).parts:
            item.add_marker(pytest.mark.browser)


@dataclass
class LiveStack:
    home: Path
    env: dict[str, str]
    services: dict[str, str]
    bootstrap: str
    redis_url: str

    @property
    def dash(self) -> str:
        return self.services["dash"]

    def status(self, domain: str) -> dict[str, Any]:
        import redis

        from coelho.status import domain_status

        client = redis.Redis.from_url(self.redis_url)
        try:
            return domain_status(client, domain)
        finally:
            client.close()

    def learned(self, domain: str) -> int:
        return int(self.status(domain)["events_learned"])

    def produce(self, domain: str, count: int, rate: float = 0.0) -> int:
        from coelho.producer import run

        return run(domain, self.bootstrap, count=count, rate=rate)

    def records(self, domain: str) -> int:
        """How many records the domain's topic holds (sum of end offsets)."""
        from kafka import KafkaConsumer, TopicPartition

        topic = REGISTRY[domain].topic
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            return int(sum(consumer.end_offsets(partitions).values()))
        finally:
            consumer.close()

    def emulator_source(self, domain: str) -> dict[str, Any]:
        body = requests.get(f"{self.services['emulator']}/status", timeout=5).json()
        return next(v for k, v in body["sources"].items() if k.split("/")[-1] == domain)

    def checkpointed(self, domain: str, *, timeout: float = 60.0) -> int:
        """Wait until the latest checkpoint covers every learned event; return its version.

        Predict functions serve checkpoints, so only then does a prediction stop changing."""
        import redis

        from coelho.state import Keys

        client = redis.Redis.from_url(self.redis_url)

        def covered() -> int:
            version, covered = client.hmget(Keys(domain).checkpoint, "version", "events_learned")
            done = covered is not None and int(covered) == self.learned(domain)
            return int(version) if done and version else 0

        try:
            return wait_until(covered, timeout=timeout, what=f"{domain}: a checkpoint of all")
        finally:
            client.close()

    def settle(self, domain: str, *, timeout: float = 120.0) -> int:
        """Wait until every record in the domain's topic has been learned; return the count."""
        total = self.records(domain)
        wait_until(lambda: self.learned(domain) >= total, timeout=timeout,
                   what=f"{domain}: {total} records learned")  # fmt: skip
        return total


def _coelho(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coelho.cli", *args], env=env, cwd=REPO, timeout=timeout,
        capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    root = tmp_path_factory.mktemp("browser-stack")
    libs = fetch_jars(REPO / ".coelho" / "kafka" / "libs")
    kafka = KafkaServer(root / "kafka", libs_dir=libs).start()
    redis_server = RedisServer(root / "redis").start()
    home = root / "home"
    env = {
        **os.environ,
        "COELHO_HOME": str(home),
        "COELHO_REPO": str(REPO),
        "COELHO_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "COELHO_REDIS_URL": redis_server.url,
        "COELHO_MAP_TILES": "",  # the browser must talk to loopback only
        "COELHO_DASH_REFRESH_MS": "1000",
    }
    try:
        up = _coelho(env, "up", "--detach", "--no-producers", timeout=600)
        if up.returncode != 0:
            pytest.fail(f"coelho up failed ({up.returncode}):\n{up.stdout}\n{up.stderr}")
        services = json.loads((home / "stack.json").read_text())["services"]
        live = LiveStack(home, env, services, kafka.bootstrap, redis_server.url)
        missing = [n for n in ("dash", *(f"predict-{d}" for d in REGISTRY)) if n not in services]
        if missing:
            pytest.fail(f"the local stack does not run {missing} (services: {sorted(services)})")
        for domain in REGISTRY:
            live.produce(domain, SEED_EVENTS)
        for domain in REGISTRY:
            live.settle(domain)
            url = f"{services[f'predict-{domain}']}/health/readiness"
            wait_until(lambda u=url: requests.get(u, timeout=5).status_code == 200,
                       timeout=60, what=f"predict-{domain} ready with a model")  # fmt: skip
        yield live
    finally:
        down = _coelho(env, "down", timeout=300)
        if down.returncode != 0:
            print(f"coelho down failed:\n{down.stdout}\n{down.stderr}", file=sys.stderr)
        redis_server.stop()
        kafka.stop()


CHROME_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-dev-shm-usage", "--window-size=1400,2000",
)  # fmt: skip


@pytest.fixture(scope="session")
def driver() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: `make deps` installs chromium and chromium-driver")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    chrome = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
