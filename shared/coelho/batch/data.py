"""The training data: a domain's Delta table, in the stream's time order, split by time.

Rows are ordered by the event's own timestamp (ties by log id, the order the learn function
acknowledged them). ``max_rows`` keeps the newest N rows, ``sample_frac`` a seeded random
sample of all rows (still in time order); then the older 80 % train and the newest 20 % are
the holdout, because a stream's future is the honest test of a model of its past.

Refusals (``NotEnoughData``, each naming the table and what is missing): a table the archive
has not written, fewer rows than the domain's ``BatchSpec.min_rows``, and for a binary task a
training part without two positives or a holdout without both classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from coelho.batch import frame
from coelho.domains import Domain
from coelho.errors import NotEnoughData
from coelho.lakehouse.storage import Storage

TRAIN_SHARE = 0.8
BATCH_ROWS = 50_000
SAMPLE_SEED = 42
Progress = Callable[[int, int], None]


@dataclass
class Dataset:
    """The rows of one training, in time order; ``cut`` is where the holdout starts."""

    domain: Domain
    table: Any  # pyarrow.Table of every leaf column the table has, plus log_id
    table_rows: int
    table_version: int
    cut: int = 0
    _frame: Any = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)

    @property
    def x(self) -> Any:
        if self._frame is None:
            data = {name: self.table.column(name).to_pandas() for name in self.table.column_names}
            self._frame = frame.to_frame(self.domain, data)
        return self._frame

    @property
    def y(self) -> Any:
        import numpy as np

        target = frame.target(self.domain)
        return None if target is None else np.asarray(self.table.column(target).to_numpy())

    def events(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Rows ``start:stop`` as nested events (River's input)."""
        part = self.table.slice(start, stop - start).to_pydict()
        return frame.events_from_columns(self.domain, part)


def load(
    domain: Domain,
    storage: Storage,
    max_rows: int | None = None,
    sample_frac: float | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read the domain's table (``progress(rows_read, rows_total)`` per batch) and split it."""
    import numpy as np
    import pyarrow as pa
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    where = f"Delta table {domain.table!r} ({storage.table_uri(domain.table)})"
    try:
        table = DeltaTable(storage.table_uri(domain.table), storage_options=storage.options)
    except TableNotFoundError:
        raise NotEnoughData(
            f"{where} holds no data yet: the archive has not written it (send events, then "
            f"`coelho archive {domain.key}` or wait for the archive tick)"
        ) from None
    dataset = table.to_pyarrow_dataset()
    total = int(dataset.count_rows())
    if total == 0:
        raise NotEnoughData(f"{where} is empty: archive some events first")
    wanted = ["_".join(path) for path, _, _ in frame.leaves(domain)] + ["log_id"]
    present = [name for name in wanted if name in dataset.schema.names]
    batches, read = [], 0
    for batch in dataset.to_batches(columns=present, batch_size=BATCH_ROWS):
        batches.append(batch)
        read += batch.num_rows
        if progress is not None:
            progress(read, total)
    schema = pa.schema([dataset.schema.field(name) for name in present])
    rows = pa.Table.from_batches(batches, schema=schema)
    time_column = frame.time_column(domain)
    order = [(time_column, "ascending")] if time_column else []
    rows = rows.sort_by([*order, ("log_id", "ascending")])
    if max_rows is not None and rows.num_rows > max_rows:
        rows = rows.slice(rows.num_rows - max_rows, max_rows)
    elif sample_frac is not None and sample_frac < 1:
        size = max(1, round(rows.num_rows * sample_frac))
        picked = np.sort(np.random.default_rng(SAMPLE_SEED).choice(rows.num_rows, size, False))
        rows = rows.take(pa.array(picked))
    found = Dataset(domain, rows, total, int(table.version()))
    found.cut = split_point(found.rows)
    check(found)
    return found


def split_point(rows: int) -> int:
    """Index of the first holdout row: the older 80 % train (at least one row each side).

    >>> split_point(1000), split_point(2)
    (800, 1)
    """
    return min(max(1, round(rows * TRAIN_SHARE)), max(rows - 1, 1))


def check(dataset: Dataset) -> None:
    """Refuse data no model can be trained and judged on, saying what is missing."""
    domain = dataset.domain
    spec = domain.batch
    assert spec is not None
    if dataset.rows < spec.min_rows:
        raise NotEnoughData(
            f"only {dataset.rows:,} rows to train on (table {domain.table!r} has "
            f"{dataset.table_rows:,}); {domain.key} needs at least {spec.min_rows:,}: archive "
            "more events or raise --max-rows / --sample-frac"
        )
    if domain.task != "binary":
        return
    y = dataset.y
    train, holdout = int(y[: dataset.cut].sum()), int(y[dataset.cut :].sum())
    holdout_rows = dataset.rows - dataset.cut
    if train < 2 or holdout < 1 or holdout == holdout_rows:
        raise NotEnoughData(
            f"no positive class to learn from: {domain.target} = 1 in {train} of the "
            f"{dataset.cut:,} training rows and {holdout} of the {holdout_rows:,} holdout rows "
            "(need at least 2 and 1, and a holdout with both classes): train on more rows"
        )
