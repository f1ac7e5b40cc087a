"""The serving loader keeps river.metrics (and MLflow) off the predict cold path, safely."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coelho.domains import get
from coelho.errors import StateTampered
from coelho.learning import OnlineModel
from coelho.lightload import Placeholder, _reachable_placeholders, loads_for_serving
from coelho.state.checkpoint import dumps, sign
from tests.helpers import same_prediction
from tests.unit.test_predict_serving import trained

KEY = b"k"
REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from pathlib import Path
from coelho.handlers.predict import PredictService
from coelho.lightload import loads_for_serving
from coelho.domains import get
service = PredictService(sys.argv[3])  # with its batch source: nothing loaded before a request
blob = Path(sys.argv[1]).read_bytes()
model = loads_for_serving(blob, sys.argv[2], b"k", "test")
event = get(sys.argv[3]).validate_request(next(get(sys.argv[3]).produce(seed=5)))
answer = model.predict(event)
tail = get(sys.argv[3]).produce(seed=6)
for _ in range(50):  # what a replica does with the log after its checkpoint
    model.learn(next(tail), None, score=False)
print(json.dumps({"answer": answer, "after_tail": model.predict(event),
                  "learned": model.events_learned, "metrics": "river.metrics" in sys.modules,
                  "mlflow": "mlflow" in sys.modules, "sklearn": "sklearn" in sys.modules,
                  "skops": "skops" in sys.modules}))
"""


@pytest.mark.parametrize("domain", ["tfd", "eta", "ecci"])
def test_a_fresh_predict_process_never_imports_metrics_mlflow_or_sklearn(
    domain: str, tmp_path: Path
) -> None:
    model = trained(domain, 300)
    blob = dumps(model)
    (tmp_path / "blob").write_bytes(blob)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "blob"), sign(blob, KEY), domain],
        capture_output=True, text=True, cwd=REPO, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["metrics"] is False and result["mlflow"] is False
    # ?model=batch imports scikit-learn on its first request only (coelho.batch.serving).
    assert result["sklearn"] is False and result["skops"] is False
    event = get(domain).validate_request(next(get(domain).produce(seed=5)))
    assert same_prediction(result["answer"], model.predict(event))
    tail = get(domain).produce(seed=6)
    for _ in range(50):  # the writer's path: scored, metrics updated
        model.learn(next(tail))
    assert result["learned"] == model.events_learned == 350
    assert same_prediction(result["after_tail"], model.predict(event))


def test_metrics_become_placeholders_and_the_pipeline_is_untouched() -> None:
    model = trained("eta", 200)
    served = loads_for_serving(dumps(model), sign(dumps(model), KEY), KEY, "test")
    for metric in served.metrics.values():  # a placeholder, or a wrapper (Rolling) of one
        assert not type(metric).__module__.startswith("river.metrics")
        assert isinstance(metric, Placeholder) or _reachable_placeholders(metric)
    assert not _reachable_placeholders(served.pipeline)
    assert served.events_learned == 200 and served.offsets == model.offsets
    for seed in range(10):
        event = get("eta").validate_request(next(get("eta").produce(seed=seed)))
        assert same_prediction(served.predict(event), model.predict(event))


def test_a_pipeline_holding_a_metric_is_loaded_whole() -> None:
    """ARF keeps a metric inside the forest: no placeholder may reach the pipeline."""
    model = OnlineModel.create("tfd", "arf")
    stream = get("tfd").produce(seed=2)
    for _ in range(100):
        model.learn(next(stream))
    blob = dumps(model)
    served = loads_for_serving(blob, sign(blob, KEY), KEY, "test")
    assert not isinstance(next(iter(served.metrics.values())), Placeholder)
    assert not _reachable_placeholders(served.pipeline)
    for seed in range(5):
        event = get("tfd").validate_request(next(get("tfd").produce(seed=seed)))
        assert same_prediction(served.predict(event), model.predict(event))


def test_a_blob_that_does_not_verify_is_never_unpickled() -> None:
    blob = dumps(trained("tfd", 10))
    with pytest.raises(StateTampered):
        loads_for_serving(blob, "0" * 64, KEY, "test")
