"""Helpers shared by tests (not fixtures)."""

from __future__ import annotations

import math
from typing import Any


def same_prediction(a: dict[str, Any], b: dict[str, Any], rel: float = 1e-9) -> bool:
    """Predictions agree: equal keys, equal non-floats, floats within ``rel``.

    A model restored from a pickle can differ in the last bits of a float, because River's
    sparse dot products sum in dictionary order; 1e-9 is far below any meaningful change.
    """
    if a.keys() != b.keys():
        return False
    for key, left in a.items():
        right = b[key]
        if isinstance(left, float) and isinstance(right, float):
            if not math.isclose(left, right, rel_tol=rel, abs_tol=1e-12):
                return False
        elif left != right:
            return False
    return True
