"""The ``coelho`` argument parser and the no-stack paths (no servers needed)."""

from __future__ import annotations

import itertools
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


def test_produce_takes_a_synthetic_clock_and_reset_a_version() -> None:
    from datetime import UTC, datetime

    args = parser().parse_args(
        ["produce", "eta", "--start", "2026-03-06T15:00:00", "--time-scale", "600"]
    )
    assert args.start == datetime(2026, 3, 6, 15, 0, tzinfo=UTC) and args.time_scale == 600
    with pytest.raises(SystemExit):
        parser().parse_args(["produce", "eta", "--start", "friday"])
    assert parser().parse_args(["reset", "eta"]).to == "champion"
    args = parser().parse_args(["reset", "tfd", "--to", "3", "--source-paused"])
    assert (args.to, args.source_paused) == ("3", True)


def test_a_fast_clock_crosses_a_weekend_and_a_rush_hour() -> None:
    """``--time-scale 600`` from Friday 15:00: rush hour, then a weekend, within 600 trips."""
    from datetime import UTC, datetime

    from coelho.domains import get
    from coelho.domains.eta import is_rush_hour

    start = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    events = list(itertools.islice(get("eta").produce(seed=1, start=start, time_scale=600), 600))
    assert any(is_rush_hour(e["day_of_week"], e["hour_of_day"]) for e in events)
    assert {e["day_of_week"] for e in events} >= {4, 5, 6}
    with pytest.raises(ValueError, match="time_scale"):
        get("eta").generate(time_scale=0)


def test_invoke_takes_its_event_before_or_after_the_options() -> None:
    from coelho.cli import parse

    event = '{"amount": 1}'
    for argv in (["invoke", "tfd", "--model", "batch", event],
                 ["invoke", "tfd", event, "--model", "batch"]):  # fmt: skip
        args = parse(argv)
        assert (args.domain, args.model, args.event) == ("tfd", "batch", event)
    assert parse(["invoke", "tfd"]).event is None
    with pytest.raises(SystemExit):
        parse(["invoke", "tfd", event, "extra"])
    with pytest.raises(SystemExit):
        parse(["status", "surplus"])
