"""The dashboard's HTTP clients against a real loopback server with scripted answers.

Each client must turn every failure a user can meet (down, slow, 4xx, 503, garbage) into a
``Problem`` with a clear message, and send exactly the request the platform expects.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from coelho.stack.ports import free_port
from dash_app.clients import control, health, mlflow, predict
from dash_app.clients.problem import Problem
from dash_app.config import DashConfig

Answer = tuple[int, Any] | Callable[["Seen"], tuple[int, Any]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Scripted:
    """A loopback HTTP server answering ``routes[(method, path)]``; records every request."""

    url: str
    routes: dict[tuple[str, str], Answer] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    delay: float = 0.0


@pytest.fixture
def server() -> Iterator[Scripted]:
    scripted = Scripted("")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            seen = Seen(self.command, parts.path, parse_qs(parts.query),
                        dict(self.headers.items()), self.rfile.read(length))  # fmt: skip
            scripted.seen.append(seen)
            time.sleep(scripted.delay)
            answer = scripted.routes.get((self.command, parts.path), (404, {"error": "nope"}))
            status, body = answer(seen) if callable(answer) else answer
            raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    scripted.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield scripted
    finally:
        httpd.shutdown()
        httpd.server_close()


def _config(server: Scripted, **kwargs: Any) -> DashConfig:
    return DashConfig(overrides={"predict-tfd": server.url}, timeout_s=2.0, **kwargs)


EVENT = {"amount": 12.5}


# -- predict ----------------------------------------------------------------------------------


def test_predict_posts_the_event_with_the_model_choice(server: Scripted) -> None:
    body = {"fraud_probability": 0.25, "is_fraud": False, "model": {"source": "champion"}}
    server.routes[("POST", "/")] = (200, body)
    outcome = predict.predict(_config(server), "tfd", EVENT, "champion")
    assert outcome.problem is None and outcome.body == body
    (seen,) = server.seen
    assert json.loads(seen.body) == EVENT
    assert seen.query == {"model": ["champion"]}


def test_predict_400_names_the_field(server: Scripted) -> None:
    server.routes[("POST", "/")] = (
        400,
        {"error": "InvalidEvent", "message": "amount: below the minimum 0", "field": "amount"},
    )
    problem = predict.predict(_config(server), "tfd", EVENT, "live").problem
    assert problem is not None and problem.field == "amount"
    assert "below the minimum" in problem.message


def test_predict_503_says_there_is_no_model_yet(server: Scripted) -> None:
    server.routes[("POST", "/")] = (503, {"error": "ModelNotReady", "message": "no state yet"})
    problem = predict.predict(_config(server), "tfd", EVENT, "live").problem
    assert problem is not None and problem.title == "No model to answer with yet"
    assert problem.message == "no state yet" and problem.level == "warning"


def test_predict_other_statuses_and_garbage_are_reported(server: Scripted) -> None:
    server.routes[("POST", "/")] = (500, "Internal Server Error")
    problem = predict.predict(_config(server), "tfd", EVENT, "live").problem
    assert problem is not None and "HTTP 500" in problem.title
    server.routes[("POST", "/")] = (200, "not json")
    problem = predict.predict(_config(server), "tfd", EVENT, "live").problem
    assert problem is not None and "unexpected" in problem.title


def test_predict_down_says_nothing_answers() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    cfg = DashConfig(overrides={"predict-tfd": url}, timeout_s=2.0)
    problem = predict.predict(cfg, "tfd", EVENT, "live").problem
    assert problem is not None and problem.title == "predict-tfd is down"
    assert url in problem.message


def test_predict_slow_function_is_cut_off_with_a_cold_start_hint(server: Scripted) -> None:
    server.routes[("POST", "/")] = (200, {"fraud_probability": 0.1, "is_fraud": False})
    server.delay = 1.0
    cfg = DashConfig(overrides={"predict-tfd": server.url}, timeout_s=0.3)
    problem = predict.predict(cfg, "tfd", EVENT, "live").problem
    assert problem is not None and "did not answer in time" in problem.title
    assert "starting" in problem.message


def test_predict_without_an_address_names_the_variable() -> None:
    problem = predict.predict(DashConfig(), "eta", EVENT, "live").problem
    assert problem is not None and "COELHO_URL_PREDICT_ETA" in problem.message


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"source": "live", "lag_events": 0, "lag_ms": 0.0, "refresh": "log"},
         "0 events · 0 ms behind the log"),
        ({"lag_events": 1, "lag_ms": 1234.5, "refresh": "log"},
         "1 event · 1,234 ms behind the log"),
        ({"lag_events": 40, "lag_ms": 800.0, "refresh": "checkpoint"},
         "40 events · 800 ms behind the log · checkpoint reloads"),
        ({"lag_events": None, "lag_ms": None, "refresh": "log"},
         "unknown (the replica has not read the log lately)"),
        ({"lag_events": "many", "lag_ms": 3, "refresh": "log"},
         "unknown (the replica has not read the log lately)"),
    ],
)  # fmt: skip
def test_live_lag_is_read_from_the_answer(model: dict[str, Any], expected: str) -> None:
    lag = predict.live_lag(model)
    assert lag is not None and lag.text() == expected


def test_answers_without_lag_have_none() -> None:
    assert predict.live_lag({"source": "champion", "version": 3}) is None


# -- health -----------------------------------------------------------------------------------


def test_readiness_states(server: Scripted) -> None:
    server.routes[("GET", "/health/readiness")] = (503, {"ready": False, "message": "no model"})
    down = f"http://127.0.0.1:{free_port()}"
    probes = health.probe_all({"a": server.url, "b": down, "c": None})
    assert (probes["a"].state, probes["a"].message) == ("not ready", "no model")
    assert probes["b"].state == "down"
    assert probes["c"].state == "unknown"
    server.routes[("GET", "/health/readiness")] = (200, {"ready": True, "message": "ok"})
    assert health.readiness("a", server.url).state == "ready"


# -- training control ---------------------------------------------------------------------------


def test_find_source_accepts_the_status_shapes() -> None:
    info = {"paused": True}
    assert control.find_source({"sources": {"coelho/tfd": info}}, "tfd") is info
    assert control.find_source({"sources": [{"name": "tfd", "paused": True}]}, "tfd") == {
        "name": "tfd",
        "paused": True,
    }
    assert control.find_source({"tfd": info}, "tfd") is info
    assert control.find_source({"sources": {"coelho/eta": info}}, "tfd") is None


def test_emulator_control_pauses_resumes_and_reads_state(server: Scripted) -> None:
    state = {"paused": False}

    def flip(paused: bool) -> Callable[[Seen], tuple[int, Any]]:
        def answer(_seen: Seen) -> tuple[int, Any]:
            state["paused"] = paused
            return 200, state

        return answer

    state["lag"] = {"topic/0": 2, "topic/1": 5}
    server.routes[("GET", "/status")] = lambda _s: (200, {"sources": {"coelho/tfd": state}})
    server.routes[("POST", "/sources/tfd/pause")] = flip(True)
    server.routes[("POST", "/sources/tfd/resume")] = flip(False)
    emulator = control.EmulatorControl(server.url)
    assert emulator.paused("tfd") is False
    assert emulator.backlog("tfd") == 7
    assert emulator.set_paused("tfd", True) is None
    assert emulator.paused("tfd") is True
    assert emulator.set_paused("tfd", False) is None
    assert emulator.paused("tfd") is False
    problem = emulator.set_paused("nope", True)
    assert isinstance(problem, Problem) and "HTTP 404" in problem.message
    assert isinstance(emulator.paused("nope"), Problem)


def test_emulator_control_down_is_a_problem() -> None:
    emulator = control.EmulatorControl(f"http://127.0.0.1:{free_port()}")
    problem = emulator.set_paused("tfd", True)
    assert isinstance(problem, Problem) and "emulator" in problem.message


def test_kubernetes_control_patches_the_scale_subresource(server: Scripted, tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    path = "/apis/sources.knative.dev/v1/namespaces/coelho/kafkasources/tfd/scale"
    replicas = {"n": 1}

    def scale(seen: Seen) -> tuple[int, Any]:
        if seen.method == "PATCH":
            replicas["n"] = json.loads(seen.body)["spec"]["replicas"]
        return 200, {"kind": "Scale", "spec": {"replicas": replicas["n"]}}

    server.routes[("GET", path)] = scale
    server.routes[("PATCH", path)] = scale
    k8s = control.KubernetesControl(server.url, "coelho", sa_dir=tmp_path)
    assert k8s.paused("tfd") is False
    assert k8s.set_paused("tfd", True) is None
    assert k8s.paused("tfd") is True
    assert k8s.set_paused("tfd", False) is None and replicas["n"] == 1
    patch = next(s for s in server.seen if s.method == "PATCH")
    assert patch.headers["Authorization"] == "Bearer sa-token"
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert json.loads(patch.body) == {"spec": {"replicas": 0}}


def test_kubernetes_control_reports_refusal_and_missing_token(
    server: Scripted, tmp_path: Path
) -> None:
    problem = control.KubernetesControl(server.url, "coelho", sa_dir=tmp_path).paused("tfd")
    assert isinstance(problem, Problem) and "token" in problem.title
    (tmp_path / "token").write_text("t")
    path = "/apis/sources.knative.dev/v1/namespaces/coelho/kafkasources/tfd/scale"
    server.routes[("PATCH", path)] = (403, {"message": "forbidden: cannot patch"})
    problem = control.KubernetesControl(server.url, "coelho", sa_dir=tmp_path).set_paused(
        "tfd", True
    )
    assert isinstance(problem, Problem) and "forbidden" in problem.message


def test_control_selection_from_config() -> None:
    assert isinstance(control.control(DashConfig(control="k8s")), control.KubernetesControl)
    emulator = control.control(DashConfig(emulator_url="http://127.0.0.1:1"))
    assert isinstance(emulator, control.EmulatorControl)
    missing = control.control(DashConfig()).paused("tfd")
    assert isinstance(missing, Problem) and "COELHO_EMULATOR_URL" in missing.message


# -- mlflow -----------------------------------------------------------------------------------


def test_mlflow_versions_aliases_and_run_links(server: Scripted) -> None:
    api = "/api/2.0/mlflow"
    server.routes[("GET", f"{api}/model-versions/search")] = (
        200,
        {"model_versions": [
            {"name": "tfd-river", "version": "1", "run_id": "r1", "creation_timestamp": 1000},
            {"name": "tfd-river", "version": "2", "run_id": "r2", "aliases": ["champion"]},
        ]},
    )  # fmt: skip
    server.routes[("GET", f"{api}/registered-models/alias")] = (
        200,
        {"model_version": {"name": "tfd-river", "version": "2", "run_id": "r2"}},
    )
    server.routes[("GET", f"{api}/runs/get")] = (200, {"run": {"info": {"experiment_id": "7"}}})
    cfg = DashConfig(mlflow_url=server.url, mlflow_link="http://mlflow.example")
    found = mlflow.versions(cfg, "tfd")
    assert not isinstance(found, Problem)
    assert [(v.version, v.aliases) for v in found] == [(2, ("champion",)), (1, ())]
    assert found[1].created == 1.0
    search = next(s for s in server.seen if s.path.endswith("/search"))
    assert search.query["filter"] == ["name='tfd-river'"]
    champion = mlflow.resolve(cfg, "tfd", "champion")
    assert not isinstance(champion, Problem) and champion.run_id == "r2"
    latest = mlflow.resolve(cfg, "tfd", "latest")
    assert not isinstance(latest, Problem) and latest.version == 2
    assert mlflow.run_link(cfg, "r2") == "http://mlflow.example/#/experiments/7/runs/r2"


def test_mlflow_unreachable_or_unconfigured_is_a_problem() -> None:
    assert isinstance(mlflow.versions(DashConfig(), "tfd"), Problem)
    cfg = DashConfig(mlflow_url=f"http://127.0.0.1:{free_port()}")
    problem = mlflow.versions(cfg, "eta")
    assert isinstance(problem, Problem) and problem.title == "MLflow unreachable"


def test_model_selector_lists_aliases_and_recent_versions_not_hundreds(server: Scripted) -> None:
    from dash_app.components import model_panel

    api = "/api/2.0/mlflow"
    many = [{"name": "tfd-river", "version": str(n), "run_id": f"r{n}"} for n in range(1, 301)]
    server.routes[("GET", f"{api}/model-versions/search")] = (200, {"model_versions": many})
    server.routes[("GET", f"{api}/registered-models/get")] = (
        200,
        {"registered_model": {"name": "tfd-river", "aliases": [
            {"alias": "champion", "version": "42"}, {"alias": "canary", "version": "290"}]}},
    )  # fmt: skip
    options = model_panel.options(DashConfig(mlflow_url=server.url), "tfd")
    values = [o["value"] for o in options]
    recent = [str(n) for n in range(300, 300 - model_panel.RECENT_VERSIONS, -1)]
    assert values == ["live", "champion", "latest", *recent, "290", "42"]
    labels = {o["value"]: o["label"] for o in options}
    assert labels["42"] == "Version 42 (champion)" and labels["290"] == "Version 290 (canary)"
