"""Small online transformers shared by the domain pipelines.

River's own ``preprocessing`` module would do, but importing it costs about 0.75 s more
(scipy.stats and sklearn come with it), and every predict function pays that on a cold
start. These cover what the pipelines need and import only ``river.base``.

Both scalers bound their output, because an unbounded input is how an online linear model
diverges: a feature that was constant for thousands of events (ETA's weekend interaction
before the first Saturday) has a running variance near zero, so its first different value
standardizes to about 30 standard deviations, and one SGD step on it wrecks every weight.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from river import base


class Standardize(base.Transformer):
    """Running z-score of every numeric feature (Welford's algorithm), learned online.

    ``clip`` bounds the output to ``[-clip, clip]``: a value far from everything seen so far
    (the first ``False`` of a flag that was ``True`` 10,000 times is 100 standard deviations
    out) still counts as "very unusual", but no longer as a number that can dominate a
    gradient step.

    >>> s = Standardize()
    >>> for v in (1.0, 2.0, 3.0):
    ...     s.learn_one({"a": v})
    >>> round(s.transform_one({"a": 3.0})["a"], 4)
    1.2247
    >>> flag = Standardize(clip=10.0)
    >>> for _ in range(10_000):
    ...     flag.learn_one({"cvv": 1.0})
    >>> flag.learn_one({"cvv": 0.0})
    >>> flag.transform_one({"cvv": 0.0})
    {'cvv': -10.0}
    """

    clip: float | None = None  # checkpoints pickled before ``clip`` existed read as unclipped

    def __init__(self, clip: float | None = None) -> None:
        self.clip = clip
        self.counts: dict[str, int] = {}
        self.means: dict[str, float] = {}
        self.m2: dict[str, float] = {}

    def learn_one(self, x: dict[str, Any]) -> None:
        for name, value in x.items():
            n = self.counts.get(name, 0) + 1
            mean = self.means.get(name, 0.0)
            delta = value - mean
            mean += delta / n
            self.counts[name] = n
            self.means[name] = mean
            self.m2[name] = self.m2.get(name, 0.0) + delta * (value - mean)

    def transform_one(self, x: dict[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        clip = self.clip
        for name, value in x.items():
            n = self.counts.get(name, 0)
            var = self.m2.get(name, 0.0) / n if n else 0.0
            z = (value - self.means.get(name, 0.0)) / math.sqrt(var) if var > 0 else 0.0
            if clip is not None:  # comparisons, not min/max: this runs per feature per event
                z = clip if z > clip else -clip if z < -clip else z
            out[name] = z
        return out


class Scale(base.Transformer):
    """Divide each feature by its declared unit, then clip to ``[-clip, clip]``.

    Stateless: the scale of a feature is domain knowledge (a trip lasts hours, a price is
    hundreds of currency units), so it does not depend on which events came first and cannot
    blow up on a first non-zero value. With ``clip`` a valid but extreme event (a trip
    across the globe is within the schema) saturates instead of dominating the model.

    >>> Scale({"hours": 3600.0, "rush": 1.0}).transform_one({"hours": 5400.0, "rush": 1.0})
    {'hours': 1.5, 'rush': 1.0}
    >>> Scale({"hours": 3600.0}, clip=3.0).transform_one({"hours": 72_000.0})
    {'hours': 3.0}
    >>> Scale({"hours": 3600.0}).transform_one({"minutes": 3.0})
    Traceback (most recent call last):
    ...
    KeyError: "Scale: no unit declared for feature 'minutes'"
    """

    def __init__(self, units: Mapping[str, float], clip: float = 3.0) -> None:
        self.units = dict(units)
        self.clip = clip

    def transform_one(self, x: dict[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        clip, units = self.clip, self.units
        for name, value in x.items():
            unit = units.get(name)
            if unit is None:
                raise KeyError(f"Scale: no unit declared for feature {name!r}")
            scaled = value / unit
            out[name] = clip if scaled > clip else -clip if scaled < -clip else scaled
        return out


class OneHot(base.Transformer):
    """``{"currency": "EUR"}`` → ``{"currency=EUR": 1.0}``; unseen values need no fitting.

    >>> OneHot().transform_one({"currency": "EUR", "referrer": None})
    {'currency=EUR': 1.0}
    """

    def transform_one(self, x: dict[str, Any]) -> dict[str, float]:
        return {f"{name}={value}": 1.0 for name, value in x.items() if value is not None}
