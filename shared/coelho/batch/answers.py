"""A predict answer per task, with the keys the live (River) answers use (coelho.learning).

So a client reads ``fraud_probability`` whether ``?model=live`` or ``?model=batch`` answered.

>>> answer("regression", 90.0)
{'eta_seconds': 90.0, 'eta_minutes': 1.5}
>>> value("binary", answer("binary", 0.7))
0.7
"""

from __future__ import annotations

from typing import Any

KEY = {"binary": "fraud_probability", "regression": "eta_seconds", "clustering": "cluster"}


def answer(task: str, value: float, n_clusters: int | None = None) -> dict[str, Any]:
    if task == "binary":
        return {"fraud_probability": float(value), "is_fraud": bool(value >= 0.5)}
    if task == "regression":
        seconds = max(0.0, float(value))
        return {"eta_seconds": seconds, "eta_minutes": seconds / 60.0}
    return {"cluster": int(value), "n_clusters": int(n_clusters or 0)}


def value(task: str, found: dict[str, Any]) -> float:
    return float(found[KEY[task]])
