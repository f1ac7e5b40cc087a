"""Small online transformers shared by the domain pipelines.

River's own ``preprocessing`` module would do, but importing it costs about 0.75 s more
(scipy.stats and sklearn come with it), and every predict function pays that on a cold
start. These two cover what the pipelines need and import only ``river.base``.
"""

from __future__ import annotations

import math
from typing import Any

from river import base


class Standardize(base.Transformer):
    """Running z-score of every numeric feature (Welford's algorithm), learned online.

    >>> s = Standardize()
    >>> for v in (1.0, 2.0, 3.0):
    ...     s.learn_one({"a": v})
    >>> round(s.transform_one({"a": 3.0})["a"], 4)
    1.2247
    """

    def __init__(self) -> None:
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
        for name, value in x.items():
            n = self.counts.get(name, 0)
            var = self.m2.get(name, 0.0) / n if n else 0.0
            out[name] = (value - self.means.get(name, 0.0)) / math.sqrt(var) if var > 0 else 0.0
        return out


class OneHot(base.Transformer):
    """``{"currency": "EUR"}`` → ``{"currency=EUR": 1.0}``; unseen values need no fitting.

    >>> OneHot().transform_one({"currency": "EUR", "referrer": None})
    {'currency=EUR': 1.0}
    """

    def transform_one(self, x: dict[str, Any]) -> dict[str, float]:
        return {f"{name}={value}": 1.0 for name, value in x.items() if value is not None}
