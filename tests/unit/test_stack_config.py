"""The stack's configuration: paths from the environment, the state key, function env."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from coelho.stack.config import FUNCTIONS, FunctionSpec, StackConfig, function_argv


def make_config(tmp_path: Path, **env: str) -> StackConfig:
    return StackConfig.from_env({"COELHO_REPO": str(tmp_path), **env})


def test_home_defaults_to_dot_coelho_in_the_repo(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.home == tmp_path.resolve() / ".coelho"
    assert config.stack_file == config.home / "stack.json"
    assert config.kafka_libs == config.home / "kafka" / "libs"
    assert config.external_kafka is None and config.external_redis is None


def test_env_overrides_home_and_external_servers(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        COELHO_HOME=str(tmp_path / "elsewhere"),
        COELHO_KAFKA_BOOTSTRAP="127.0.0.1:19092",
        COELHO_REDIS_URL="redis://127.0.0.1:16379/0",
    )
    assert config.home == (tmp_path / "elsewhere").resolve()
    assert config.external_kafka == "127.0.0.1:19092"
    assert config.external_redis == "redis://127.0.0.1:16379/0"


def test_state_key_is_made_once_and_private(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    key = config.state_key()
    assert len(key) == 64
    assert config.state_key() == key
    mode = stat.S_IMODE((config.home / "state.key").stat().st_mode)
    assert mode == 0o600


def test_function_env_points_at_redis_and_keeps_user_overrides(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    spec = FunctionSpec("learn-tfd", 8081, {"EXTRA": "1"})
    base = {"COELHO_CHECKPOINT_EVERY": "7", "COELHO_REDIS_URL": "redis://wrong", "PATH": "/bin"}
    env = config.function_env(spec, "redis://127.0.0.1:6379/0", base)
    assert env["COELHO_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert env["COELHO_STATE_KEY"] == config.state_key()
    assert env["COELHO_CHECKPOINT_EVERY"] == "7"
    assert env["K_SERVICE"] == "learn-tfd"
    assert env["EXTRA"] == "1" and env["PATH"] == "/bin"
    assert config.function_env(spec, "redis://x", {})["COELHO_CHECKPOINT_EVERY"] == "1000"


def test_function_source_names_the_missing_file(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(FileNotFoundError, match="learn-tfd.*main.py"):
        config.function_source(FunctionSpec("learn-tfd", 8081))


def test_function_argv_binds_loopback(tmp_path: Path) -> None:
    argv = function_argv(tmp_path / "main.py", 8123, python="py")
    assert argv[:3] == ["py", "-m", "functions_framework"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1"
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--target") + 1] == "main"


def test_function_table_has_unique_names_and_ports() -> None:
    assert {"learn-tfd", "learn-eta", "learn-ecci", "dead-letters"} <= {f.name for f in FUNCTIONS}
    assert len({f.name for f in FUNCTIONS}) == len(FUNCTIONS)
    assert len({f.port for f in FUNCTIONS}) == len(FUNCTIONS)


def test_kafka_source_topics_come_from_the_manifests(tmp_path: Path) -> None:
    (tmp_path / "eventing").mkdir()
    (tmp_path / "eventing" / "200-src.yaml").write_text(
        "kind: KafkaSource\nspec:\n  topics: [a, b]\n---\nkind: Trigger\nspec: {}\n"
    )
    assert make_config(tmp_path).kafka_source_topics() == {"a", "b"}


def test_the_repo_manifests_name_every_domain_topic() -> None:
    from coelho.domains import REGISTRY

    repo = Path(__file__).resolve().parents[2]
    topics = StackConfig.from_env({"COELHO_REPO": str(repo)}).kafka_source_topics()
    assert {d.topic for d in REGISTRY.values()} <= topics


def test_kafka_jars_land_where_asked_even_for_a_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maven resolves a relative outputDirectory against the pom's folder; we must not."""
    from coelho.stack import kafka

    seen: list[list[str]] = []

    def fake_run(argv: list[str], **_: object) -> object:
        seen.append(argv)
        out = Path(next(a for a in argv if a.startswith("-DoutputDirectory=")).split("=", 1)[1])
        out.mkdir(parents=True)
        (out / kafka.MARKER_JAR).write_text("jar")
        return type("Done", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(kafka.subprocess, "run", fake_run)
    monkeypatch.setattr(kafka.shutil, "which", lambda _: "/usr/bin/mvn")
    libs = kafka.fetch_jars(Path("rel/kafka/libs"))
    assert libs == tmp_path / "rel" / "kafka" / "libs"
    assert (libs / kafka.MARKER_JAR).is_file()
    assert Path(seen[0][-1].split("=", 1)[1]).is_absolute()
