"""Windowed River metrics that stay small: a bounded ``TimeRolling`` and a compact silhouette.

River's ``utils.TimeRolling`` keeps every event of its period, and the period is event time: a
producer replaying a backlog packs hours of stream into one window. ``TimeWindow`` also keeps
at most ``max_events`` (the oldest are reverted first), so memory and checkpoint size are
bounded whatever the rate. The learner passes ``t`` (the event's own timestamp) to any metric
whose ``uses_event_time`` is true.

``utils.Rolling(metrics.Silhouette, 1000)`` keeps each event's ``(x, y_pred, centers)``:
measured on the ECCI model, that grew the pickled checkpoint from 15 KB to 500 KB.
``SilhouetteWindow`` computes River's Silhouette terms once per event and rolls only those two
distances (with ``utils.Rolling`` or ``TimeWindow``), so it reports the same value for the
same window at a few bytes per event.

>>> from datetime import datetime, timedelta
>>> from river import metrics
>>> mae = TimeWindow(metrics.MAE, period=timedelta(minutes=5), max_events=2)
>>> start = datetime(2026, 1, 1)
>>> for minute, (y, p) in enumerate([(10, 0), (10, 8), (10, 9), (10, 10)]):
...     mae.update(y, p, t=start + timedelta(minutes=minute))
>>> round(mae.get(), 3)  # only the newest two events are kept
0.5
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from river import metrics, utils
from river.utils.vectordict import euclidean_distance_dict

PERIOD = timedelta(minutes=5)
# 5 minutes at the fastest seed rate (ECCI, 10 events/s); ~45 bytes per event in a checkpoint.
MAX_EVENTS = 3_000


class TimeWindow(utils.TimeRolling):
    """``utils.TimeRolling`` over event time that never keeps more than ``max_events``."""

    uses_event_time = True

    def __init__(
        self, cls: Any, period: timedelta = PERIOD, max_events: int = MAX_EVENTS, **kwargs: Any
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events!r}")
        super().__init__(cls, period=period, **kwargs)
        self.max_events = max_events

    def update(self, *args: Any, t: datetime, **kwargs: Any) -> None:
        super().update(*args, t=t, **kwargs)
        excess = len(self._timestamps) - self.max_events
        if excess > 0:
            for old_args, old_kwargs in self._datum[:excess]:
                self.obj.revert(*old_args, **old_kwargs)
            del self._timestamps[:excess]
            del self._datum[:excess]


class _DistanceSums:
    """Sums of the distances to the closest and to the 'second' centre (River's terms)."""

    def __init__(self) -> None:
        self.closest = 0.0
        self.second = 0.0

    def update(self, closest: float, second: float) -> None:
        self.closest += closest
        self.second += second

    def revert(self, closest: float, second: float) -> None:
        self.closest -= closest
        self.second -= second

    def get(self) -> float:
        return self.closest / self.second if self.second > 0 else math.inf


class SilhouetteWindow(metrics.base.ClusteringMetric):
    """River's ``metrics.Silhouette`` over the last ``window_size`` events, or over ``period``
    of event time (``t``), storing two floats per event."""

    def __init__(
        self,
        window_size: int | None = None,
        period: timedelta | None = None,
        max_events: int = MAX_EVENTS,
    ) -> None:
        if (window_size is None) == (period is None):
            raise ValueError("give exactly one of window_size and period")
        super().__init__()
        self.window_size = window_size
        self.period = period
        self.sums: Any = (
            utils.Rolling(_DistanceSums, window_size=window_size)
            if window_size is not None
            else TimeWindow(_DistanceSums, period=period, max_events=max_events)
        )

    @property
    def uses_event_time(self) -> bool:
        return self.period is not None

    def update(
        self, x: dict, y_pred: Any, centers: dict, w: float = 1.0, t: datetime | None = None
    ) -> None:
        if y_pred not in centers or len(centers) < 2:
            return
        closest = euclidean_distance_dict(centers[y_pred], x)
        # The same term as River's Silhouette (its "second closest" helper), for equal values.
        second = metrics.Silhouette._find_distance_second_closest_center(centers, x)
        if self.period is not None:
            self.sums.update(closest, second, t=t)
        else:
            self.sums.update(closest, second)

    def revert(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("a windowed metric reverts its own oldest events")

    def get(self) -> float:
        return self.sums.get()

    @property
    def bigger_is_better(self) -> bool:
        return False
