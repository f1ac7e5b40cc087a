"""The registry's retention policy as pure functions (coelho.retention)."""

from __future__ import annotations

from coelho.handlers.snapshot import forced
from coelho.registry import VersionInfo
from coelho.retention import ALIASES_TAG, held, keepers, snapshot_due


def _v(n: int, aliases: tuple[str, ...] = (), held_before: str = "") -> VersionInfo:
    tags = {ALIASES_TAG: held_before} if held_before else {}
    return VersionInfo(n, aliases, float(n), f"run{n}", tags)


def test_keeps_the_newest_k_every_alias_holder_and_the_newest_former_holders() -> None:
    versions = [_v(n) for n in range(1, 41)]
    versions[2] = _v(3, aliases=("champion",), held_before="champion")  # holds
    versions[6] = _v(7, held_before="champion")  # held, then the alias moved on
    versions[8] = _v(9, held_before="canary,champion")
    versions[11] = _v(12, held_before="champion")
    assert keepers(versions, 5, 10) == {36, 37, 38, 39, 40, 3, 7, 9, 12}
    assert keepers(versions, 5, 2) == {36, 37, 38, 39, 40, 3, 9, 12}  # former: newest 2
    assert keepers(reversed(versions), 5, 2) == keepers(versions, 5, 2)  # order is irrelevant
    assert keepers(versions, 0, 0) == {3}  # holding is never pruned
    assert keepers([], 10, 10) == set()
    assert held({ALIASES_TAG: "canary,champion"}) == {"canary", "champion"}
    assert held({}) == set()


def test_a_new_version_needs_enough_events_and_enough_time() -> None:
    assert snapshot_due(1000, 600.0, 1000, 600)[0]
    assert not snapshot_due(999, 10_000.0, 1000, 600)[0]
    assert not snapshot_due(10**6, 599.0, 1000, 600)[0]
    assert snapshot_due(-1, 0.0, 1000, 600) == (
        True,
        "fewer events than the newest version: another lineage",
    )
    assert snapshot_due(0, 0.0, 0, 0)[0]  # thresholds off: every moved state


def test_force_is_read_from_the_tick_data_only_when_true() -> None:
    assert forced(b'{"force": true}') and forced({"force": True}) and forced('{"force": true}')
    assert not forced(b'{"force": "yes"}') and not forced(b"not json") and not forced(None)
