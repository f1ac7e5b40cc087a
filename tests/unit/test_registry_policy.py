"""Unit tests of the registry's pure parts: promotion policy, version metadata, pyfunc input."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from coelho.domains import get
from coelho.errors import InvalidEvent
from coelho.handlers.snapshot import requested_domains
from coelho.promotion import decide, promotion_metric
from coelho.pyfunc import RiverModel, records
from coelho.registry import VersionInfo, registered_name
from tests.unit.test_predict_serving import trained


def test_promotion_metric_is_the_rolling_headline_when_one_exists() -> None:
    assert promotion_metric("tfd") == ("RollingROCAUC", True)
    assert promotion_metric("eta") == ("RollingMAE", False)
    assert promotion_metric("ecci") == ("RollingSilhouette", False)
    assert registered_name("eta") == "eta-river"


@pytest.mark.parametrize(
    ("higher", "mine", "theirs", "promoted"),
    [
        (True, 0.80, 0.75, True),
        (True, 0.75, 0.75, True),  # ties go to the fresher model
        (True, 0.70, 0.75, False),
        (False, 40.0, 42.0, True),
        (False, 44.0, 42.0, False),
    ],
)
def test_a_candidate_must_be_at_least_as_good_as_the_champion(
    higher: bool, mine: float, theirs: float, promoted: bool
) -> None:
    ok, reason = decide("M", higher, {"M": mine}, 1000, {"M": theirs}, 200)
    assert ok is promoted
    assert "M" in reason


def test_too_few_events_never_promote_even_without_a_champion() -> None:
    assert decide("M", True, {"M": 1.0}, 199, None, 200) == (
        False,
        "only 199 events learned (< 200)",
    )
    assert decide("M", True, {}, 200, None, 200)[0] is True


def test_missing_metrics_on_either_side() -> None:
    assert decide("M", True, {}, 500, {"M": 0.5}, 10) == (False, "no M yet")
    assert decide("M", True, {"M": 0.1}, 500, {}, 10)[0] is True


def test_version_info_reads_its_tags() -> None:
    info = VersionInfo(
        3, ("champion",), 1.0, "run",
        {"coelho.metrics": json.dumps({"MAE": 3.5}), "coelho.events_learned": "42",
         "coelho.offsets": json.dumps({"t": {"0": 41}})},
    )  # fmt: skip
    assert info.metrics == {"MAE": 3.5}
    assert info.events_learned == 42
    assert info.offsets == {"t": {"0": 41}}


def test_records_nest_dotted_columns_and_read_nan_as_null() -> None:
    frame = pd.DataFrame([{"location.lat": 1.5, "location.lon": 2.5, "price": math.nan}])
    assert records(frame) == [{"location": {"lat": 1.5, "lon": 2.5}, "price": None}]


def test_pyfunc_predict_matches_the_model_on_nested_and_flat_frames() -> None:
    model = trained("ecci", 150)
    events = [get("ecci").validate_request(e) for e in _take(get("ecci").produce(seed=4), 5)]
    wrapper = RiverModel()
    wrapper.model = model
    nested = wrapper.predict(None, pd.DataFrame(events))
    flat = wrapper.predict(None, pd.json_normalize(events))
    expected = pd.DataFrame([model.predict(e) for e in events])
    pd.testing.assert_frame_equal(nested, expected)
    pd.testing.assert_frame_equal(flat, expected)


def test_pyfunc_predict_names_the_bad_field() -> None:
    wrapper = RiverModel()
    wrapper.model = trained("tfd", 10)
    event = get("tfd").validate_request(next(get("tfd").produce(seed=1)))
    event["amount"] = "lots"
    with pytest.raises(InvalidEvent) as caught:
        wrapper.predict(None, pd.DataFrame([event]))
    assert caught.value.field == "amount"


def test_snapshot_tick_data_selects_domains() -> None:
    assert requested_domains(None) == ["ecci", "eta", "tfd"]
    assert requested_domains(b"") == ["ecci", "eta", "tfd"]
    assert requested_domains({"domains": ["tfd", "tfd"]}) == ["tfd"]
    for bad in (b"{", {"domains": "tfd"}, {"domains": ["nope"]}):
        with pytest.raises(InvalidEvent):
            requested_domains(bad)


def _take(iterator: object, n: int) -> list[dict[str, object]]:
    return [next(iterator) for _ in range(n)]  # type: ignore[call-overload]
