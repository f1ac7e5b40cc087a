"""Each ``functions/<name>/`` is a self-contained build context, proven without a container:

copied ALONE into a temp folder with the vendored wheel (what ``k3d/vendor.py`` adds), it
installs into a fresh venv (no system site-packages) from its own ``requirements.txt`` and
serves with ``functions-framework --target main --signature-type http`` exactly as the
buildpack image would (``--host 127.0.0.1``, a clean environment). Then: health GETs answer
200, ``/metrics`` declares the contract's families, and a request of its kind is accepted:
learn takes KafkaSource CloudEvents (202), predict answers from the model learn just built
(200), dead-letters keeps a failed delivery (202), archive writes a Delta table on MinIO that
query counts with SQL. Functions with the same requirements
share one venv. Wheels are kept in ``.coelho/build/wheelhouse`` (gitignored) and installed with
``--no-index`` when they are all there, so only the first run downloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from coelho import domains
from coelho.stack.ports import HOST, free_port
from coelho.stack.processes import Child
from tests.cluster import contract, manifests

FUNCTIONS = sorted(p.name for p in manifests.FUNCTIONS.iterdir() if p.is_dir())
WHEELHOUSE = manifests.REPO / ".coelho" / "build" / "wheelhouse"
STATE_KEY = "coelho-cluster-test-key"
EVENTS = 25


def missing_sources() -> list[str]:
    return [n for n in FUNCTIONS if not (manifests.FUNCTIONS / n / "main.py").is_file()]


def require_source(*names: str) -> None:
    missing = [n for n in names if n in missing_sources()]
    if missing:
        pytest.skip(f"no main.py yet for: {', '.join(missing)} (all missing: {missing_sources()})")


class Images:
    """Build contexts and venvs for the session, keyed by function and requirements."""

    def __init__(self, root: Path, vendor: ModuleType) -> None:
        self.root = root
        self.vendor = vendor
        self.venvs: dict[str, Path] = {}

    def context(self, name: str) -> Path:
        """``functions/<name>/`` alone (no vendor/, no caches) plus a freshly built wheel."""
        target = self.root / "contexts" / name
        if not target.is_dir():
            shutil.copytree(
                manifests.FUNCTIONS / name,
                target,
                ignore=shutil.ignore_patterns("vendor", "__pycache__", "*.pyc"),
            )
            self.vendor.build_wheel(target / "vendor")
            self.vendor.check_requirements(target)
        return target

    def venv(self, context: Path) -> Path:
        requirements = (context / "requirements.txt").read_bytes()
        key = hashlib.sha256(requirements).hexdigest()[:12]
        if key not in self.venvs:
            venv = self.root / f"venv-{key}"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            python = str(venv / "bin" / "python")
            # --no-compile: the .pyc files an image build writes are irrelevant here and slow.
            offline = ("install", "--no-index", "--no-compile")
            if self._pip(python, context, *offline).returncode != 0:
                fetched = self._pip(python, context, "download", "--dest", str(WHEELHOUSE))
                assert fetched.returncode == 0, f"pip download failed:\n{fetched.stderr}"
                result = self._pip(python, context, *offline)
                assert result.returncode == 0, f"pip install in {context}:\n{result.stderr}"
            self.venvs[key] = venv
        return self.venvs[key]

    @staticmethod
    def _pip(python: str, context: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """pip with the wheelhouse as a link source, run in the build context, where
        ``./vendor/<wheel>`` in requirements.txt resolves as it does in the image build."""
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        argv = [python, "-m", "pip", *args, "-q", "--find-links", str(WHEELHOUSE)]
        return subprocess.run(
            [*argv, "-r", "requirements.txt"], cwd=context, capture_output=True, text=True,
            timeout=900,
        )  # fmt: skip


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory, vendor: ModuleType) -> Images:
    return Images(tmp_path_factory.mktemp("images"), vendor)


@pytest.fixture
def serve(images: Images, redis_url: str, tmp_path: Path) -> Iterator[Any]:
    """Factory: serve one function from its isolated context and venv; stopped at teardown."""
    started: list[Child] = []

    def start(name: str, extra_env: dict[str, str] | None = None) -> str:
        context = images.context(name)
        venv = images.venv(context)
        port = free_port()
        env = {
            "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
            "COELHO_REDIS_URL": redis_url,
            "COELHO_STATE_KEY": STATE_KEY,
            "COELHO_CHECKPOINT_EVERY": "5",
            **(extra_env or {}),
        }
        argv = [str(venv / "bin" / "functions-framework"), "--target", "main",
                "--signature-type", "http", "--source", "main.py",
                "--host", HOST, "--port", str(port)]  # fmt: skip
        child = Child(name, argv, env=env, cwd=context, log_path=tmp_path / f"{name}.log")
        started.append(child.start())
        base = f"http://{HOST}:{port}"
        child.wait_ready(lambda: get(f"{base}/health/liveness")[0] == 200, timeout=120,
                         what="alive (GET /health/liveness == 200)")  # fmt: skip
        return base

    try:
        yield start
    finally:
        for child in reversed(started):
            child.stop(timeout=10)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_for(url: str, status: int, timeout: float = 90) -> str:
    """GET ``url`` until it answers ``status`` (bounded: fail after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            code, body = get(url)
        except OSError as exc:  # refused, reset or slow: not ready yet
            code, body = 0, repr(exc)
        if code == status:
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"GET {url}: {code} {body!r}, wanted {status} within {timeout:.0f} s")
        time.sleep(0.5)


def sample_events(domain: str, count: int) -> list[dict[str, Any]]:
    generator = domains.get(domain).generator(random.Random(5), None, lambda: datetime.now(UTC))
    return [generator.next_event() for _ in range(count)]


def kafka_cloudevent(domain: str, offset: int, data: dict[str, Any]) -> dict[str, str]:
    """Binary-mode headers of the CloudEvent a KafkaSource makes of one record."""
    topic = domains.get(domain).topic
    return {
        "ce-specversion": "1.0",
        "ce-type": "dev.knative.kafka.event",
        "ce-source": f"/apis/v1/namespaces/coelho/kafkasources/{domain}#{topic}",
        "ce-id": f"partition:0/offset:{offset}",
        "ce-subject": f"partition:0#{offset}",
        "ce-domain": domain,
        "ce-knativekafkapartition": "0",
        "ce-knativekafkaoffset": str(offset),
        "content-type": "application/json",
    }


def check_common(base: str, name: str) -> str:
    """Health and metrics, as Knative's probes and the PodMonitor use them."""
    assert get(f"{base}/health/liveness")[0] == 200
    status, metrics = get(f"{base}/metrics")
    assert status == 200
    expected = contract.FAMILIES_BY_KIND[contract.kind_of(name)]
    assert expected <= contract.families(metrics), expected - contract.families(metrics)
    return metrics


@pytest.mark.parametrize("name", FUNCTIONS)
def test_context_is_self_contained(name: str, images: Images) -> None:
    """Only the folder and its vendored wheel: coelho is imported from the venv, not shared/."""
    require_source(name)
    context = images.context(name)
    assert sorted(p.name for p in (context / "vendor").iterdir()) == [images.vendor.wheel_name()]
    venv = images.venv(context)
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import coelho, sys; print(coelho.__file__)"],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": str(venv / "bin")},
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_relative_to(venv), result.stdout


@pytest.mark.parametrize("domain", ["tfd", "eta", "ecci"])
def test_learn_then_predict(domain: str, serve: Any, redis_client: Any) -> None:
    require_source(f"learn-{domain}", f"predict-{domain}")
    learn = serve(f"learn-{domain}")
    wait_for(f"{learn}/health/readiness", 200)
    events = sample_events(domain, EVENTS)
    for offset, event in enumerate(events):
        code, body = post(
            learn, json.dumps(event).encode(), kafka_cloudevent(domain, offset, event)
        )
        assert code == 202, body
    bad_code, _ = post(learn, b"{}", kafka_cloudevent(domain, EVENTS, {}))
    assert 400 <= bad_code < 500, "an invalid event is rejected, not retried"
    metrics = check_common(learn, f"learn-{domain}")
    assert f'coelho_events_received_total{{domain="{domain}"}} {float(EVENTS)}' in metrics

    predict = serve(f"predict-{domain}")
    wait_for(f"{predict}/health/readiness", 200)  # ready once learn has checkpointed a model
    code, body = post(predict, json.dumps(events[0]).encode(), {"content-type": "application/json"})
    assert code == 200, body
    assert json.loads(body)["model"]["source"] == "live"
    check_common(predict, f"predict-{domain}")


def test_dead_letters_keeps_a_failed_delivery(serve: Any, redis_client: Any) -> None:
    require_source("dead-letters")
    base = serve("dead-letters")
    wait_for(f"{base}/health/readiness", 200)
    headers = {
        **kafka_cloudevent("tfd", 7, {}),
        "ce-knativeerrorcode": "500",
        "ce-knativeerrordest": "http://learn-tfd.coelho.svc.cluster.local",
        "ce-knativeerrordata": "Ym9vbQ==",
    }
    code, body = post(base, b'{"amount": 1}', headers)
    assert code == 202, body
    metrics = check_common(base, "dead-letters")
    assert 'coelho_dead_letters_total{domain="tfd"} 1.0' in metrics


def test_snapshot_serves_health_and_metrics(serve: Any, redis_client: Any) -> None:
    """Its POST needs an MLflow server, which this offline suite does not start."""
    require_source("snapshot")
    base = serve("snapshot")
    check_common(base, "snapshot")


def test_archive_then_query_on_minio(serve: Any, redis_client: Any, s3_server: Any) -> None:
    """The lakehouse functions from their own images: archive a logged domain's events into
    Delta on MinIO, then count them with SQL; the SQL guard refuses a write."""
    require_source("archive", "query")
    from coelho.state.log import EventLog
    from tests.lakehouse import fresh_buckets, post_json, tick

    log = EventLog(redis_client, "eta", 3600)
    for offset, event in enumerate(sample_events("eta", EVENTS)):
        log.append("test", f"id-{offset}", domains.get("eta").validate(event), ("t", 0, offset))
    env = fresh_buckets(s3_server)
    archive = serve("archive", env)
    wait_for(f"{archive}/health/readiness", 200)
    status, report = tick(archive, domains=["eta"])
    assert status == 200, report
    assert report["eta"]["archived"] == EVENTS and report["eta"]["table_rows"] == EVENTS
    check_common(archive, "archive")
    query = serve("query", env)
    sql = {"table": domains.get("eta").table, "sql": "SELECT count(*) AS n FROM data"}
    status, answer = post_json(query, sql)
    assert status == 200, answer
    assert answer["rows"] == [[EVENTS]]
    status, answer = post_json(query, {**sql, "sql": "DROP TABLE data"})
    assert status == 400 and "DROP" in answer["message"]
    check_common(query, "query")


def test_dash_context_is_self_contained_and_serves(
    images: Images, deploy: ModuleType, versions: dict[str, str], tmp_path: Path
) -> None:
    """The dashboard's staged build context (k3d/deploy.py) installs alone and serves `/`,
    started as its image starts it: ``python -m dash_app`` with HOST and PORT."""
    if not (manifests.REPO / "dash_app" / "__main__.py").is_file():
        pytest.skip("no dash_app/__main__.py yet")
    build = deploy.stage_dash(versions, images.root / "contexts" / "dash")
    venv = images.venv(build.context)
    port = free_port()
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "HOST": HOST,
        "PORT": str(port),
    }
    argv = [str(venv / "bin" / "python"), *build.build_env["GOOGLE_ENTRYPOINT"].split()[1:]]
    child = Child("dash", argv, env=env, cwd=build.context, log_path=tmp_path / "dash.log")
    child.start()
    try:
        base = f"http://{HOST}:{port}"
        child.wait_ready(lambda: get(f"{base}/")[0] == 200, timeout=120, what="serving GET /")
        status, page = get(f"{base}/")
        assert status == 200 and "<html" in page.lower()
    finally:
        child.stop(timeout=10)
