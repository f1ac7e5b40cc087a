"""The ``coelho`` argument parser and the no-stack paths (no servers needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from coelho.cli import main, parser
from coelho.domains import REGISTRY


def test_produce_domains_come_from_the_registry() -> None:
    for key in REGISTRY:
        args = parser().parse_args(["produce", key, "--count", "5", "--drift-after", "2"])
        assert (args.domain, args.count, args.drift_after) == (key, 5, 2)
    with pytest.raises(SystemExit):
        parser().parse_args(["produce", "not-a-domain", "--count", "1"])


def test_up_flags() -> None:
    args = parser().parse_args(["up", "--detach", "--no-producers"])
    assert args.detach and args.no_producers


def test_status_without_a_stack_fails_naming_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COELHO_HOME", str(tmp_path))
    assert main(["status", "--json"]) == 1
    assert str(tmp_path) in capsys.readouterr().err


def test_down_without_a_stack_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COELHO_HOME", str(tmp_path))
    (tmp_path / "stack.json").write_text('{"pid": 999999999, "services": {}}')
    assert main(["down"]) == 0
    assert "no stack running" in capsys.readouterr().out
    assert not (tmp_path / "stack.json").exists()
