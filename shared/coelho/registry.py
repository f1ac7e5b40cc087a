"""The MLflow model registry of each domain: snapshots, versions, aliases, promotion, restore.

Every snapshot of a domain's state becomes one MLflow run in the experiment named after the
domain (params: model and hyper-parameters; metrics: the prequential metrics at
step = events learned; tags: state version and the Kafka offsets per partition the state
covers) with a real pyfunc model (``coelho.pyfunc.RiverModel``), registered as a new version of
``<domain>-river``.

Aliases: ``champion`` is moved by the promotion policy or by ``coelho promote``. MLflow 3
reserves the alias name ``latest`` (the server rejects it) and itself resolves
``models:/<domain>-river/latest`` to the newest version, so "latest" needs no alias: it always
is the newest registered version.

The promotion policy (``coelho.promotion``) decides when a new version becomes champion.
A version whose state the guard found unhealthy (``coelho.guard``) is registered with the tag
``coelho.health`` saying so and is never promoted, restored or reset to.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coelho.domains import get
from coelho.errors import ModelNotReady, Refused
from coelho.guard import OK, verdict
from coelho.promotion import decide, min_events, promotion_metric
from coelho.retention import record_alias
from coelho.state.checkpoint import dumps, sign

if TYPE_CHECKING:
    from coelho.serving import Selector, Served
    from coelho.state.curve import Pending

log = logging.getLogger(__name__)

CHAMPION = "champion"
TAG = "coelho."
# The modules a registered model needs to unpickle and predict; copied into the model.
MODEL_CODE = ("__init__.py", "errors.py", "features.py", "guard.py", "learning.py",
              "pyfunc.py", "settings.py", "telemetry.py", "domains", "state")  # fmt: skip
REQUIREMENTS = ("river", "redis", "prometheus-client", "pandas", "cloudpickle", "mlflow")


def quiet_mlflow() -> None:
    """No usage telemetry from MLflow: this platform talks to its own servers only."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")


def registered_name(domain: str) -> str:
    return f"{domain}-river"


def tracking_uri(env: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if env is None else env
    return env.get("COELHO_MLFLOW_URI") or env.get("MLFLOW_TRACKING_URI") or None


@dataclass(frozen=True)
class VersionInfo:
    """What ``coelho models`` lists about one registered version."""

    version: int
    aliases: tuple[str, ...]
    created: float
    run_id: str
    tags: dict[str, str]

    @property
    def metrics(self) -> dict[str, float]:
        return dict(json.loads(self.tags.get(f"{TAG}metrics", "{}")))

    @property
    def events_learned(self) -> int:
        return int(self.tags.get(f"{TAG}events_learned", 0))

    @property
    def offsets(self) -> dict[str, dict[str, int]]:
        return dict(json.loads(self.tags.get(f"{TAG}offsets", "{}")))

    @property
    def health(self) -> str:
        """``ok``, or the guard's state and reason when the snapshot was taken."""
        return self.tags.get(f"{TAG}health", OK)

    @property
    def healthy(self) -> bool:
        return self.health == OK

    @property
    def lineage(self) -> str:
        """The learning-curve lineage of its run (coelho.state.curve); "" before it existed."""
        return self.tags.get(f"{TAG}lineage", "")

    @property
    def position(self) -> str | None:
        """The domain log position the state covers (versions registered before it: None)."""
        return self.tags.get(f"{TAG}position")


class Registry:
    """MLflow calls for the platform; one per process is enough (``shared()``)."""

    def __init__(self, uri: str | None = None) -> None:
        quiet_mlflow()
        import mlflow
        from mlflow import MlflowClient

        self.uri = uri or tracking_uri()
        if not self.uri:
            raise ModelNotReady("no model registry configured (set MLFLOW_TRACKING_URI)")
        self.mlflow = mlflow
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # -- reading ---------------------------------------------------------------------------
    def versions(self, domain: str) -> list[VersionInfo]:
        """Registered versions of the domain, newest first ([] when none)."""
        from mlflow.exceptions import MlflowException

        name = registered_name(domain)
        try:
            aliases = self.client.get_registered_model(name).aliases or {}
        except MlflowException:
            return []
        found = self.client.search_model_versions(
            f"name='{name}'", order_by=["version_number DESC"]
        )
        # Search results carry no aliases; the registered model has them all.
        by_version: dict[str, list[str]] = {}
        for alias, version in aliases.items():
            by_version.setdefault(str(version), []).append(alias)
        return [_info(mv, by_version.get(str(mv.version), ())) for mv in found]

    def resolve(self, domain: str, selector: Selector) -> Any:
        """The ``ModelVersion`` a selector names; 503 when none exists, 404 for a bad N."""
        from mlflow.exceptions import MlflowException

        from coelho.serving import ModelNotFound

        name = registered_name(domain)
        try:
            if selector.source == "version":
                return self.client.get_model_version(name, str(selector.version))
            if selector.source == CHAMPION:
                return self.client.get_model_version_by_alias(name, CHAMPION)
            newest = self.client.search_model_versions(
                f"name='{name}'", max_results=1, order_by=["version_number DESC"]
            )
        except MlflowException as exc:
            if selector.source == "version":
                raise ModelNotFound(f"{name} has no version {selector.version}") from None
            reason = f"{name} has no {selector.source} version yet ({exc.error_code})"
            raise ModelNotReady(reason) from None
        if not newest:
            raise ModelNotReady(f"{name} has no registered version yet (no snapshot taken)")
        return newest[0]

    def load(self, model_version: Any, key: bytes) -> Any:
        """The ``OnlineModel`` of a registered version, its HMAC verified before unpickling."""
        from coelho.state.checkpoint import loads_verified

        model_id = model_version.model_id or str(model_version.source).removeprefix("models:/")
        base = self.client.get_logged_model(model_id).artifact_location
        with tempfile.TemporaryDirectory() as tmp:
            state = self.mlflow.artifacts.download_artifacts(
                f"{base}/artifacts/state.pkl", dst_path=tmp, tracking_uri=self.uri
            )
            mac = self.mlflow.artifacts.download_artifacts(
                f"{base}/artifacts/state.hmac", dst_path=tmp, tracking_uri=self.uri
            )
            what = f"{model_version.name} version {model_version.version}"
            return loads_verified(Path(state).read_bytes(), Path(mac).read_text().strip(),
                                  key, what)  # fmt: skip

    def champion(self, domain: str) -> VersionInfo | None:
        return next((v for v in self.versions(domain) if CHAMPION in v.aliases), None)

    # -- writing ---------------------------------------------------------------------------
    def publish(self, domain: str, model: Any, state_version: int, saved_at: float,
                key: bytes, position: str | None = None, curve: Pending | None = None,
                event_time_ms: int | None = None) -> VersionInfo:  # fmt: skip
        """Log a run with the model, its learning curve since ``curve``'s base and its reports
        (``coelho.snapshot_content``), and register it as the domain's next version."""
        from coelho.pyfunc import HMAC_ARTIFACT, STATE_ARTIFACT, RiverModel
        from coelho.snapshot_content import build

        mlflow = self.mlflow
        spec = get(domain)
        metrics = model.metric_values()
        offsets = {t: {str(p): o for p, o in parts.items()} for t, parts in model.offsets.items()}
        tags = {f"{TAG}domain": domain, f"{TAG}state_version": str(state_version),
                f"{TAG}events_learned": str(model.events_learned),
                f"{TAG}model": model.model_name, f"{TAG}saved_at": f"{saved_at:.3f}",
                f"{TAG}offsets": json.dumps(offsets, sort_keys=True)}  # fmt: skip
        state, reason = verdict(model)
        tags[f"{TAG}health"] = OK if state == OK else f"{state}: {reason}"[:4000]
        if position is not None:
            tags[f"{TAG}position"] = position
        content = build(domain, model, curve, event_time_ms, saved_at)
        run_tags = {**tags, **content.tags}
        for topic, parts in offsets.items():
            for partition, offset in parts.items():
                run_tags[f"kafka.offset.{topic}.{partition}"] = str(offset)
        experiment = mlflow.set_experiment(spec.title)
        hyper = spec.model(model.model_name).params
        params = {"model": model.model_name, "pipeline": str(model.pipeline)[:6000],
                  **{name: str(value)[:6000] for name, value in hyper.items()}}  # fmt: skip
        run_id, mv = "", None
        try:
            with (
                tempfile.TemporaryDirectory() as tmp,
                mlflow.start_run(experiment_id=experiment.experiment_id,
                                 run_name=f"{domain}-state-v{state_version}") as run,
            ):  # fmt: skip
                run_id = run.info.run_id
                mlflow.log_params(params)
                self.client.log_batch(run_id, metrics=content.metrics())
                mlflow.set_tags(run_tags)
                for path, document in content.documents.items():
                    mlflow.log_dict(document, path)
                blob = dumps(model)
                (Path(tmp) / "state.pkl").write_bytes(blob)
                (Path(tmp) / "state.hmac").write_text(sign(blob, key))
                info = mlflow.pyfunc.log_model(
                    name="model",
                    python_model=RiverModel(),
                    artifacts={
                        STATE_ARTIFACT: str(Path(tmp) / "state.pkl"),
                        HMAC_ARTIFACT: str(Path(tmp) / "state.hmac"),
                    },  # fmt: skip
                    code_paths=[_stage_code(Path(tmp))],
                    pip_requirements=_requirements(),
                )
            version_tags = {**tags, **content.tags,
                            f"{TAG}metrics": json.dumps(metrics, sort_keys=True)}  # fmt: skip
            mv = mlflow.register_model(info.model_uri, registered_name(domain), tags=version_tags)
        except Exception:
            if run_id and mv is None:  # the retry logs this curve again: no run holds it twice
                self._discard(run_id)
            raise
        if int(mv.version) == 1:
            self.client.update_registered_model(mv.name, spec.summary or spec.title)
        return _info(self.client.get_model_version(mv.name, mv.version))

    def _discard(self, run_id: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_run(run_id)
        except (MlflowException, OSError):
            log.warning("run %s of a failed snapshot not deleted: it stays, failed", run_id)

    def promote(self, domain: str, version: int, reason: str) -> None:
        name = registered_name(domain)
        found = _info(self.client.get_model_version(name, str(version)))  # raises if unknown
        if not found.healthy:
            raise Refused(f"{name} version {version} is not promoted: {found.health}")
        self.client.set_registered_model_alias(name, CHAMPION, str(version))
        record_alias(self.client, name, version, CHAMPION)  # kept by the retention policy
        self.client.set_model_version_tag(name, str(version), f"{TAG}promotion", reason)

    def consider(self, domain: str, candidate: VersionInfo) -> tuple[bool, str]:
        """Apply the promotion policy to a new version; promote it when it passes."""
        if not candidate.healthy:
            return False, f"not promoted: the state is {candidate.health}"
        metric, higher = promotion_metric(domain)
        champion = self.champion(domain)
        ok, reason = decide(metric, higher, candidate.metrics, candidate.events_learned,
                            champion.metrics if champion else None, min_events())  # fmt: skip
        if ok:
            self.promote(domain, candidate.version, f"policy: {reason}")
        return ok, reason


_SHARED: dict[str, Registry] = {}


def shared(uri: str | None = None) -> Registry:
    """One ``Registry`` per tracking URI in this process."""
    uri = uri or tracking_uri()
    if not uri:
        raise ModelNotReady("no model registry configured (set MLFLOW_TRACKING_URI)")
    if uri not in _SHARED:
        _SHARED[uri] = Registry(uri)
    return _SHARED[uri]


def load_served(domain: str, selector: Selector, key: bytes) -> Served:
    """A registry source for the predict function (``coelho.serving.RegistrySource``)."""
    from mlflow.exceptions import MlflowException

    from coelho.serving import Served

    try:
        registry = shared()
        mv = registry.resolve(domain, selector)
        model = registry.load(mv, key)
    except MlflowException as exc:
        raise ModelNotReady(f"model registry unavailable: {exc.message[:300]}") from None
    except OSError as exc:
        raise ModelNotReady(f"model registry unavailable: {exc}") from None
    extra = {"registered_model": mv.name, "run_id": mv.run_id,
             "state_version": int(mv.tags.get(f"{TAG}state_version", 0))}  # fmt: skip
    return Served(model, selector.source, int(mv.version), mv.creation_timestamp / 1000, extra)


def latest_state(domain: str, key: bytes) -> tuple[Any, VersionInfo] | None:
    """The newest healthy registered version's ``OnlineModel`` (verified), or None."""
    from coelho.serving import Selector

    registry = shared()
    for info in registry.versions(domain):
        if info.healthy:
            mv = registry.resolve(domain, Selector("version", info.version))
            return registry.load(mv, key), _info(mv)
    return None


def version_info(mv: Any) -> VersionInfo:
    """The ``VersionInfo`` of an MLflow ``ModelVersion`` (e.g. from ``Registry.resolve``)."""
    return _info(mv)


def _info(mv: Any, aliases: Any = None) -> VersionInfo:
    aliases = tuple(sorted(aliases if aliases is not None else (mv.aliases or ())))
    return VersionInfo(int(mv.version), aliases, mv.creation_timestamp / 1000,
                       mv.run_id or "", dict(mv.tags or {}))  # fmt: skip


def _stage_code(tmp: Path) -> str:
    """A copy of the modules the model needs, as a ``coelho`` package for ``code_paths``."""
    import shutil

    package = Path(__file__).resolve().parent
    target = tmp / "code" / "coelho"
    target.mkdir(parents=True)
    for name in MODEL_CODE:
        source = package / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target / name)
    return str(target)


def _requirements() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in REQUIREMENTS:
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return pins
