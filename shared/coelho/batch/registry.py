"""Batch models in MLflow: one run per training, registered as ``<domain>-batch``.

A run (experiment ``"<title> (batch)"``, apart from the River snapshots) holds: params (rows,
sample fraction, max rows, table version, the features, and every parameter of the
estimator as ``model.<name>``), the holdout metrics, the River and baseline scores on the
same holdout (``river_<metric>``, ``baseline_<metric>``), the K search per K as steps, the
artifacts ``diagnostics.json``, ``comparison.json`` and ``holdout/predictions.parquet``, and an
``mlflow.sklearn`` model with signature and input example whose pyfunc answers like the
predict function (``predict_proba`` for binary), with ``coelho.batch.transform`` as its code.

The model is saved in MLflow's skops format with the reviewed ``TRUSTED`` types only, and
its file is signed like a River checkpoint (HMAC-SHA256 with ``COELHO_STATE_KEY``, version tag
``coelho.model_hmac``): the predict functions load a batch model only after the tag verifies
(coelho.batch.serving). ``mlflow.pyfunc.load_model`` works too, once its user sets
``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true`` (MLflow 3 asks that of every scikit-learn model).

The model is registered last: a training stopped (or failed) before that point leaves a run
ended KILLED (or FAILED) and no version. After registering, the alias ``champion`` is moved
to the version with the best headline metric (``BatchSpec.headline``): the "best run" the
dashboard stars and ``?model=batch`` serves.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coelho.batch.status import Stopped
from coelho.domains import Domain, get
from coelho.registry import CHAMPION, TAG, quiet_mlflow, tracking_uri
from coelho.state.checkpoint import sign

KIND_TAG = f"{TAG}kind"
PREDICT_FN = {"binary": "predict_proba", "regression": "predict", "clustering": "predict"}
CODE = ("__init__.py", "batch/__init__.py", "batch/transform.py")
HMAC_TAG = f"{TAG}model_hmac"
# Types beyond skops' defaults the batch pipelines hold, each reviewed: our two transformers,
# the boosted trees' node arrays, the partial(check_array) scikit-learn keeps in them, and the
# numpy dtype the one-hot encoder records.
TRUSTED = (
    "numpy.dtype",
    "coelho.batch.transform.Quantize",
    "coelho.batch.transform.TimeFeatures",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)


def registered_name(domain: str) -> str:
    return f"{domain}-batch"


def experiment_name(domain: Domain) -> str:
    return f"{domain.title} (batch)"


@dataclass(frozen=True)
class Logged:
    run_id: str
    version: int
    experiment_id: str
    champion: int | None


def _mlflow(uri: str | None) -> Any:
    quiet_mlflow()
    import mlflow

    found = uri or tracking_uri()
    if not found:
        from coelho.errors import ModelNotReady

        raise ModelNotReady("no model registry configured (set MLFLOW_TRACKING_URI)")
    mlflow.set_tracking_uri(found)
    mlflow.set_registry_uri(found)
    return mlflow


def _stage_code(tmp: Path) -> str:
    package = Path(__file__).resolve().parents[1]
    target = tmp / "code" / "coelho"
    for name in CODE:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(package / name, target / name)
    return str(target)


def log_training(
    domain: Domain,
    *,
    run_name: str,
    tags: dict[str, str],
    params: dict[str, Any],
    metrics: dict[str, float],
    k_log: list[dict[str, float]],
    artifacts: dict[str, Any],
    predictions: Any,
    pipeline: Any,
    example: Any,
    check: Callable[[], None],
    key: bytes,
    uri: str | None = None,
) -> Logged:
    """Log one training and register its model; ``check()`` may raise to stop before that."""
    mlflow = _mlflow(uri)
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    from coelho.batch.frame import signature_columns

    # The inputs' types come from the FieldSpecs, not from a 5-row example (where an
    # often-null category can look like a float column); the output is inferred.
    inputs = Schema([ColSpec(kind, name, required=required)
                     for name, kind, required in signature_columns(domain)])  # fmt: skip
    predict = getattr(pipeline, PREDICT_FN[domain.task])
    outputs = infer_signature(example, predict(example)).outputs
    experiment = mlflow.set_experiment(experiment_name(domain))
    with tempfile.TemporaryDirectory() as tmp:
        run = mlflow.start_run(experiment_id=experiment.experiment_id, run_name=run_name)
        try:
            mlflow.set_tags({**tags, KIND_TAG: "batch", f"{TAG}domain": domain.key})
            mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
            mlflow.log_metrics(metrics)
            for entry in k_log:
                step = int(entry["k"])
                mlflow.log_metrics({f"k_{k}": v for k, v in entry.items() if k != "k"}, step=step)
            for name, content in artifacts.items():
                (Path(tmp) / name).write_text(json.dumps(content))
                mlflow.log_artifact(str(Path(tmp) / name))
            (Path(tmp) / "holdout").mkdir()
            predictions.to_parquet(Path(tmp) / "holdout" / "predictions.parquet", index=False)
            mlflow.log_artifacts(str(Path(tmp) / "holdout"), artifact_path="holdout")
            check()
            info = mlflow.sklearn.log_model(
                pipeline, name="model", signature=ModelSignature(inputs, outputs),
                input_example=example, pyfunc_predict_fn=PREDICT_FN[domain.task],
                code_paths=[_stage_code(Path(tmp))], serialization_format="skops",
                skops_trusted_types=list(TRUSTED),
            )  # fmt: skip
            mac = sign(model_file(info.model_uri, Path(tmp) / "logged")[1], key)
            mlflow.set_tag(HMAC_TAG, mac)
            check()  # the last point a stop is honoured: registration is all or nothing
        except BaseException as exc:
            mlflow.end_run(status="KILLED" if isinstance(exc, Stopped) else "FAILED")
            raise
        version_tags = {**tags, f"{TAG}metrics": json.dumps(metrics, sort_keys=True),
                        f"{TAG}train_rows": str(params.get("train_rows", "")),
                        HMAC_TAG: mac}  # fmt: skip
        mv = mlflow.register_model(info.model_uri, registered_name(domain.key), tags=version_tags)
        mlflow.end_run(status="FINISHED")
    champion = promote_best(domain.key, uri)
    return Logged(run.info.run_id, int(mv.version), experiment.experiment_id, champion)


def model_file(model_uri: str, folder: Path) -> tuple[Path, bytes]:
    """Download a logged scikit-learn model; (its folder, the bytes of its model file)."""
    import mlflow
    import yaml

    local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(folder)))
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["sklearn"]
    return local / flavor["pickled_model"], (local / flavor["pickled_model"]).read_bytes()


def versions(domain: str, uri: str | None = None) -> list[Any]:
    """Registered versions of ``<domain>-batch`` (newest first; [] when none)."""
    mlflow = _mlflow(uri)
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        found = client.search_model_versions(f"name='{registered_name(domain)}'")
    except MlflowException:
        return []
    return sorted(found, key=lambda mv: int(mv.version), reverse=True)


def best(domain: str, found: list[Any]) -> Any | None:
    """The version with the best headline metric (ties: the newest)."""
    spec = get(domain).batch
    assert spec is not None
    scored = []
    for mv in found:
        value = json.loads((mv.tags or {}).get(f"{TAG}metrics", "{}")).get(spec.headline)
        if value is not None:
            scored.append((value if spec.higher_is_better else -value, int(mv.version), mv))
    return max(scored, key=lambda s: (s[0], s[1]))[2] if scored else None


def promote_best(domain: str, uri: str | None = None) -> int | None:
    """Point ``champion`` at the best version; its number (None without versions)."""
    mlflow = _mlflow(uri)
    chosen = best(domain, versions(domain, uri))
    if chosen is None:
        return None
    client = mlflow.MlflowClient()
    client.set_registered_model_alias(registered_name(domain), CHAMPION, str(chosen.version))
    return int(chosen.version)
