"""coelho.batch's pure parts: features from the FieldSpecs, the time split, metrics, doctests.

The time split reads a real Delta table written to a temporary folder (delta-rs reads local
paths as it reads MinIO); nothing here needs a server.
"""

from __future__ import annotations

import doctest
import importlib
import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from coelho.batch import data, features, frame, metrics
from coelho.domains import REGISTRY, get
from coelho.errors import NotEnoughData
from coelho.lakehouse.schema import TableLayout
from coelho.state.log import LogEntry

BATCH_DOMAINS = sorted(k for k, d in REGISTRY.items() if d.batch is not None)
DOCTESTED = ("coelho.batch.answers", "coelho.batch.data", "coelho.batch.metrics",
             "coelho.batch.transform")  # fmt: skip


@pytest.mark.parametrize("name", DOCTESTED)
def test_doctests(name: str) -> None:
    failed, tried = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0


def events(key: str, n: int, seed: int = 3) -> list[dict[str, Any]]:
    found = get(key).produce(seed=seed)
    return [get(key).validate(next(found)) for _ in range(n)]


# -- features --------------------------------------------------------------------------------
@pytest.mark.parametrize("key", BATCH_DOMAINS)
def test_inputs_never_include_ids_targets_debug_or_free_text(key: str) -> None:
    domain = get(key)
    roles = {".".join(path): (spec, role) for path, spec, role in frame.leaves(domain)}
    inputs = frame.columns(domain)
    assert inputs
    for column in inputs:
        spec, role = roles[column.path]
        assert role not in ("id", "target", "debug"), column
        assert not column.name.startswith("debug"), column
        assert role != "context" or spec.kind == "timestamp", column
        if column.kind == "categorical":
            assert column.choices == tuple(spec.choices), column
        if spec.kind == "str":
            assert column.kind == "categorical" and spec.choices, f"free text {column.name}"
    assert domain.target not in {c.name for c in inputs}
    # The leak the seed had: the generator's own factors exist in the events, never as inputs.
    debug = [".".join(p) for p, _, role in frame.leaves(domain) if role == "debug"]
    assert not set(debug) & {c.path for c in inputs}


def test_eta_has_debug_fields_to_keep_out() -> None:
    """The no-leak test above is not vacuous: ETA's events carry debug_* fields."""
    assert any(role == "debug" for _, _, role in frame.leaves(get("eta")))


@pytest.mark.parametrize("key", BATCH_DOMAINS)
def test_the_preprocessing_encodes_categories_by_their_choices_and_adds_time(key: str) -> None:
    domain = get(key)
    x = frame.from_events(domain, events(key, 300))
    pre = features.preprocessor(domain).fit(x)
    names = list(pre.get_feature_names_out())
    kinds = features.by_kind(domain)
    for column in kinds["timestamp"]:
        assert f"{column.name}_hour" in names and f"{column.name}_weekday" in names
    assert not any("debug" in n or n == domain.target for n in names)
    out = pre.transform(x)
    assert out.shape == (300, len(names)) and np.isfinite(np.nan_to_num(out)).all()
    categorical = kinds["categorical"]
    if domain.batch.encoding == "ordinal":
        # Codes are positions in the FieldSpec's choices, whatever the sample holds.
        for j, column in enumerate(categorical):
            codes = [column.choices.index(v) if isinstance(v, str) else math.nan
                     for v in x[column.name]]  # fmt: skip
            np.testing.assert_array_equal(out[:, j], np.asarray(codes, dtype=float))
    else:
        width = sum(len(c.choices) for c in categorical)
        assert set(np.unique(out[:, :width])) <= {0.0, 1.0}
        assert (out[:, :width].sum(axis=1) <= len(categorical)).all()


def test_an_unknown_category_is_missing_not_a_new_code() -> None:
    domain = get("tfd")
    sample = events("tfd", 50)
    pre = features.preprocessor(domain).fit(frame.from_events(domain, sample))
    odd = {**sample[0], "currency": "XXX"}
    position = [c.name for c in features.by_kind(domain)["categorical"]].index("currency")
    assert math.isnan(pre.transform(frame.from_events(domain, [odd]))[0, position])


def test_time_features_are_utc_hour_and_weekday() -> None:
    domain = get("tfd")
    event = {**events("tfd", 1)[0], "timestamp": "2026-03-01T23:30:00-02:00"}  # Mon 01:30 UTC
    x = frame.from_events(domain, [event])
    pre = features.preprocessor(domain).fit(x)
    names = list(pre.get_feature_names_out())
    row = pre.transform(x)[0]
    assert row[names.index("timestamp_hour")] == 1.0
    assert row[names.index("timestamp_weekday")] == 0.0


@pytest.mark.parametrize("key", BATCH_DOMAINS)
def test_table_rows_and_request_events_give_the_same_frame(key: str) -> None:
    """Training reads Delta rows, serving reads JSON events: one frame builder for both."""
    domain = get(key)
    sample = events(key, 40)
    entries = [LogEntry(f"{1000 + i}-0", e, "s", f"id-{i}", ("t", 0, i))
               for i, e in enumerate(sample)]  # fmt: skip
    table = TableLayout(domain).rows(entries)
    from_table = frame.to_frame(
        domain, {n: table.column(n).to_pandas() for n in table.column_names}
    )
    from_json = frame.from_events(domain, sample)
    assert list(from_table.columns) == [c.name for c in frame.columns(domain)]
    import pandas as pd

    pd.testing.assert_frame_equal(from_table, from_json)


# -- the time split ----------------------------------------------------------------------------
@dataclass
class LocalStorage:
    """A Delta table in a folder: what ``data.load`` needs of ``Storage``."""

    root: Path
    options: dict[str, str] | None = None

    def table_uri(self, table: str) -> str:
        return str(self.root / table)


def write_table(tmp_path: Path, key: str, sample: list[dict[str, Any]]) -> LocalStorage:
    from deltalake import write_deltalake

    domain = get(key)
    shuffled = list(enumerate(sample))
    random.Random(5).shuffle(shuffled)  # archived out of time order
    entries = [LogEntry(f"{1000 + n}-0", e, "s", f"id-{i}", ("t", 0, n))
               for n, (i, e) in enumerate(shuffled)]  # fmt: skip
    storage = LocalStorage(tmp_path)
    write_deltalake(storage.table_uri(domain.table), TableLayout(domain).rows(entries))
    return storage


def timestamps(dataset: data.Dataset) -> list[Any]:
    return dataset.table.column(frame.time_column(dataset.domain)).to_pylist()


def test_the_split_trains_on_the_older_80_percent(tmp_path: Path) -> None:
    storage = write_table(tmp_path, "eta", events("eta", 500))
    seen: list[tuple[int, int]] = []
    dataset = data.load(
        get("eta"), storage, progress=lambda done, total: seen.append((done, total))
    )  # type: ignore[arg-type]
    assert dataset.rows == 500 and dataset.cut == 400 and seen[-1] == (500, 500)
    stamps = timestamps(dataset)
    assert stamps == sorted(stamps)
    assert max(stamps[: dataset.cut]) <= min(stamps[dataset.cut :])
    assert len(dataset.x) == 500 and len(dataset.y) == 500


def test_max_rows_keeps_the_newest_and_a_sample_stays_in_time_order(tmp_path: Path) -> None:
    storage = write_table(tmp_path, "eta", events("eta", 500))
    everything = timestamps(data.load(get("eta"), storage))  # type: ignore[arg-type]
    newest = data.load(get("eta"), storage, max_rows=250)  # type: ignore[arg-type]
    assert timestamps(newest) == everything[-250:] and newest.cut == 200
    sample = data.load(get("eta"), storage, sample_frac=0.5)  # type: ignore[arg-type]
    picked = timestamps(sample)
    assert sample.rows == 250 and picked == sorted(picked) and set(picked) <= set(everything)


def test_too_few_rows_are_refused_with_the_numbers(tmp_path: Path) -> None:
    storage = write_table(tmp_path, "eta", events("eta", 500))
    with pytest.raises(NotEnoughData, match=r"only 100 rows .* has 500\).*at least 200"):
        data.load(get("eta"), storage, max_rows=100)  # type: ignore[arg-type]


def test_split_point_leaves_a_row_on_each_side() -> None:
    assert [data.split_point(n) for n in (2, 3, 10, 1001)] == [1, 2, 8, 801]


# -- metrics -----------------------------------------------------------------------------------
def test_binary_metrics_by_hand() -> None:
    y = np.array([0, 0, 0, 1, 1])
    proba = np.array([0.1, 0.6, 0.2, 0.9, 0.4])  # one false positive, one false negative
    found = metrics.evaluate(metrics.BINARY, metrics.binary(y, proba))
    assert set(found) == set(metrics.BINARY)
    assert found["recall"] == 0.5 and found["precision"] == 0.5 and found["accuracy"] == 0.6
    assert found["roc_auc"] == pytest.approx(5 / 6)
    assert found["geometric_mean"] == pytest.approx(math.sqrt(0.5 * 2 / 3))
    assert found["f2"] == pytest.approx(0.5)


def test_regression_metrics_by_hand() -> None:
    y, pred = np.array([100.0, 200.0, 0.0]), np.array([110.0, 180.0, 10.0])
    found = metrics.evaluate(metrics.REGRESSION, metrics.regression(y, pred))
    assert found["mae"] == pytest.approx(40 / 3) and found["max_error"] == 20.0
    assert found["mape"] == pytest.approx((10 + 10) / 2)  # the zero target is left out
    assert found["smape"] == pytest.approx((10 / 105 + 20 / 190 + 10 / 5) / 3 * 100)


def test_undefined_metrics_are_left_out_not_zero() -> None:
    found = metrics.evaluate(("roc_auc", "accuracy"), metrics.binary([0, 0, 0], [0.1, 0.2, 0.3]))
    assert found == {"accuracy": 1.0}


def test_better_follows_the_direction_of_each_metric() -> None:
    assert metrics.better("roc_auc", 0.9, 0.8) == "batch"
    assert metrics.better("mae", 12.0, 10.0) == "river"
    assert metrics.better("n_clusters", 3.0, 5.0) == ""
    assert metrics.better("mae", None, 10.0) == "" and metrics.better("r2", 0.5, 0.5) == ""


@pytest.mark.parametrize("key", BATCH_DOMAINS)
def test_every_domain_logs_known_metrics_and_ranks_by_one_of_them(key: str) -> None:
    domain = get(key)
    spec = domain.batch
    metrics.check(domain.task, spec.metrics)
    assert spec.headline in spec.metrics
    assert metrics.INFO[spec.headline].higher_is_better == spec.higher_is_better
    with pytest.raises(ValueError, match="unknown metrics"):
        metrics.check(domain.task, ("no_such_metric",))
