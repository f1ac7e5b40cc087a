"""Dashboard configuration: env parsing, errors naming the variable, function addresses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dash_app.config import ConfigError, DashConfig


def test_defaults_are_local() -> None:
    cfg = DashConfig.from_env({})
    assert cfg.redis_url == "redis://127.0.0.1:6379/0"
    assert cfg.control == "emulator" and cfg.emulator_url is None
    assert cfg.function_url("predict-tfd") is None
    assert cfg.refresh_ms == 3000 and cfg.map_tiles.startswith("https://")


def test_environment_is_read_once_per_variable(tmp_path: Path) -> None:
    env = {
        "COELHO_REDIS_URL": "redis://127.0.0.1:1/2",
        "COELHO_STATE_KEY": "k",
        "COELHO_SERVICES_FILE": str(tmp_path / "services.json"),
        "COELHO_EMULATOR_URL": "http://127.0.0.1:8070/",
        "MLFLOW_TRACKING_URI": "http://mlflow:5000",
        "COELHO_MLFLOW_LINK": "https://mlflow.example/",
        "COELHO_PROMETHEUS_URL": "http://prom:9090",
        "COELHO_DASH_REFRESH_MS": "1500",
        "COELHO_DASH_TIMEOUT_S": "4.5",
        "COELHO_MAP_TILES": "",
        "COELHO_URL_PREDICT_TFD": "http://10.0.0.1:8080/",
        "COELHO_GRAFANA_URL": "http://127.0.0.1:3000/",
        "COELHO_ALERTMANAGER_URL": "http://127.0.0.1:9093",
    }
    cfg = DashConfig.from_env(env)
    assert (cfg.grafana_link, cfg.alertmanager_link) == ("http://127.0.0.1:3000",
                                                         "http://127.0.0.1:9093")  # fmt: skip
    assert cfg.state_key == b"k" and cfg.redis_url.endswith(":1/2")
    assert cfg.emulator_url == "http://127.0.0.1:8070"
    assert (cfg.mlflow_url, cfg.mlflow_link) == ("http://mlflow:5000", "https://mlflow.example")
    assert cfg.prometheus_link == "http://prom:9090"
    assert (cfg.refresh_ms, cfg.timeout_s, cfg.map_tiles) == (1500, 4.5, "")
    assert cfg.function_url("predict-tfd") == "http://10.0.0.1:8080"


@pytest.mark.parametrize(
    ("name", "value"),
    [("COELHO_CONTROL", "kubectl"), ("COELHO_DASH_REFRESH_MS", "fast"),
     ("COELHO_DASH_REFRESH_MS", "10"), ("COELHO_DASH_TIMEOUT_S", "-1")],
)  # fmt: skip
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        DashConfig.from_env({name: value})


def test_services_file_is_reread_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    cfg = DashConfig(services_file=path)
    assert cfg.services() == {}
    path.write_text(json.dumps({"predict-tfd": "http://127.0.0.1:1/"}))
    assert cfg.function_url("predict-tfd") == "http://127.0.0.1:1"
    path.write_text(json.dumps({"predict-tfd": "http://127.0.0.1:2"}))
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert cfg.function_url("predict-tfd") == "http://127.0.0.1:2"
    path.write_text("{broken")
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    assert cfg.function_url("predict-tfd") == "http://127.0.0.1:2"


def test_function_url_precedence(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text(json.dumps({"learn-tfd": "http://127.0.0.1:3"}))
    cfg = DashConfig(
        services_file=path,
        function_url_template="http://{name}.{namespace}.svc.cluster.local",
        namespace="ml",
        overrides={"predict-eta": "http://127.0.0.1:4"},
    )
    assert cfg.function_url("predict-eta") == "http://127.0.0.1:4"
    assert cfg.function_url("learn-tfd") == "http://127.0.0.1:3"
    assert cfg.function_url("predict-tfd") == "http://predict-tfd.ml.svc.cluster.local"


def test_the_stack_links_the_servers_it_runs_in_the_services_menu(tmp_path: Path) -> None:
    from coelho.stack.config import StackConfig
    from dash_app.components.navbar import service_links

    stack = StackConfig(repo=tmp_path, home=tmp_path)
    servers = {"redis": "redis://127.0.0.1:1/0", "mlflow": "http://127.0.0.1:5001",
               "minio-console": "http://127.0.0.1:9001", "prometheus": "http://127.0.0.1:9090",
               "alertmanager": "http://127.0.0.1:9093"}  # fmt: skip
    links = dict(service_links(DashConfig.from_env(stack.dash_env(servers, base={}))))
    shown = [k for k in links if "readiness" not in k]
    assert shown == ["MLflow", "MinIO console", "Prometheus", "Alertmanager"]
    assert links["Alertmanager"] == "http://127.0.0.1:9093" and "Grafana" not in links
