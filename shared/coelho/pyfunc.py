"""The MLflow pyfunc wrapper of a domain's ``OnlineModel`` (River has no MLflow flavor).

A registered version holds two artifacts: ``state.pkl`` (the pickled ``OnlineModel``, the
same bytes a Redis checkpoint holds) and ``state.hmac`` (its HMAC-SHA256 tag). ``predict``
takes a DataFrame with one event per row, either with nested objects in cells
(``location = {"lat": .., "lon": ..}``) or flattened dotted columns (``location.lat``), and
returns one row of answers per event, so ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` (``{"dataframe_records": [...]}``) both work.

Loading verifies the tag when ``COELHO_STATE_KEY`` is set; without it the pickle is trusted as
MLflow trusts its own pickles. The platform's own restore path always verifies.
"""

from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # talk to our own servers only
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow.pyfunc  # noqa: E402 - after the telemetry switch

STATE_ARTIFACT = "state"
HMAC_ARTIFACT = "state_hmac"


def read_state(blob: bytes, mac: str, what: str) -> Any:
    """Unpickle a logged state, verifying its tag when this process knows the key."""
    key = os.environ.get("COELHO_STATE_KEY")
    if key:
        from coelho.state.checkpoint import loads_verified

        return loads_verified(blob, mac, key.encode(), what)
    return pickle.loads(blob)


def records(frame: Any) -> list[dict[str, Any]]:
    """DataFrame rows as event dicts: dotted columns nested again, NaN read as null.

    >>> import pandas as pd
    >>> records(pd.DataFrame([{"a.b": 1.0, "c": float("nan")}]))
    [{'a': {'b': 1.0}, 'c': None}]
    """
    rows = frame.to_dict(orient="records") if hasattr(frame, "to_dict") else list(frame)
    out = []
    for row in rows:
        event: dict[str, Any] = {}
        for column, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                value = None
            parent = event
            *path, leaf = str(column).split(".")
            for part in path:
                parent = parent.setdefault(part, {})
            parent[leaf] = value
        out.append(event)
    return out


class RiverModel(mlflow.pyfunc.PythonModel):
    """``predict(DataFrame of events) -> DataFrame of answers`` for one domain."""

    def load_context(self, context: Any) -> None:
        blob = Path(context.artifacts[STATE_ARTIFACT]).read_bytes()
        mac = Path(context.artifacts[HMAC_ARTIFACT]).read_text().strip()
        self.model = read_state(blob, mac, "registered model state")

    # No type hints on the inputs: MLflow would read them as a schema and reject a DataFrame.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        import pandas as pd

        from coelho.domains import get

        domain = get(self.model.domain)
        answers = [self.model.predict(domain.validate_request(e)) for e in records(model_input)]
        return pd.DataFrame(answers)
