"""A registry that stays small: when a snapshot earns a new version, and which versions stay.

The PingSource ticks every minute; registering every state that moved made 1,440 versions per
domain per day, each with its pickled state (megabytes for a forest). So:

1. **When** (``snapshot_due``): a new version needs ``COELHO_SNAPSHOT_MIN_EVENTS`` events
   learned *and* ``COELHO_SNAPSHOT_MIN_SECONDS`` elapsed since the newest version (a state with
   fewer events than it is another lineage, e.g. a reset, and is registered at once). At most
   86,400 / min_seconds versions a day; after losing Redis, recovery replays at most
   min_events plus min_seconds' worth of events. ``coelho snapshot`` forces one.
2. **What stays** (``keepers``): the newest ``COELHO_REGISTRY_KEEP`` versions, every version
   that holds an alias, and the newest ``COELHO_REGISTRY_KEEP_HELD`` of those that held one
   (the champions to roll back to). Holding is recorded in the version tag ``coelho.aliases``
   when an alias is set (``record_alias``) and again before each pruning, which also catches
   aliases set by hand in MLflow. Keeping *every* former holder does not bound the registry:
   in the soak run ECCI's policy promoted 15 of 16 versions (its silhouette kept improving),
   so at the default thresholds that would be up to 144 versions a day, for ever. At most
   keep + keep_held + (versions holding an alias) stay.
3. **What goes** (``prune``): everything else, with its logged model and run, all through the
   tracking server: the model version is deleted, the logged model and the run are marked
   deleted, and their artifacts are deleted at once through the server's artifact proxy (on
   S3 when the server stores there). MLflow keeps a deleted run's rows until ``mlflow gc``
   purges them; it runs next to the server (``MlflowServer.gc`` in the local stack, a sidecar
   on the cluster), which is the only place with the backend store.
4. **History** (``log_history``): each registered snapshot's metrics also go to one run per
   domain, ``<domain>-history`` (tag ``coelho.history``), step = events learned. It is never
   pruned, so the metric history stays readable after the snapshot runs are gone. The
   snapshot runs hold the fine learning curve (``coelho.state.curve``) and go with their
   version; the history run keeps one point per version ever registered, of every lineage.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from coelho.domains import get

log = logging.getLogger(__name__)

ALIASES_TAG = "coelho.aliases"
HISTORY_TAG = "coelho.history"


def snapshot_due(
    events_since: int, seconds_since: float, min_events: int, min_seconds: float
) -> tuple[bool, str]:
    """Whether a state this far from the newest version deserves a new one, and why.

    >>> snapshot_due(5000, 900.0, 1000, 600)
    (True, '5000 events and 900 s since the newest version')
    >>> snapshot_due(5000, 60.0, 1000, 600)
    (False, 'only 60 s since the newest version (< 600)')
    >>> snapshot_due(-10, 1.0, 1000, 600)[0]
    True
    """
    if events_since < 0:
        return True, "fewer events than the newest version: another lineage"
    if events_since < min_events:
        return False, f"only {events_since} events since the newest version (< {min_events})"
    if seconds_since < min_seconds:
        return False, f"only {seconds_since:.0f} s since the newest version (< {min_seconds:g})"
    return True, f"{events_since} events and {seconds_since:.0f} s since the newest version"


def held(tags: Mapping[str, str]) -> set[str]:
    """The aliases a version's tags say it has held."""
    return {a for a in tags.get(ALIASES_TAG, "").split(",") if a}


def keepers(versions: Iterable[Any], keep: int, keep_held: int) -> set[int]:
    """Version numbers to keep: the newest ``keep``, every one that holds an alias, and the
    newest ``keep_held`` of those that held one.

    ``versions`` are ``VersionInfo``-like (``version``, ``aliases``, ``tags``), in any order.
    """
    ordered = sorted(versions, key=lambda v: v.version, reverse=True)
    newest = {v.version for v in ordered[: max(keep, 0)]}
    holding = {v.version for v in ordered if v.aliases}
    former = [v.version for v in ordered if not v.aliases and held(v.tags)]
    return newest | holding | set(former[: max(keep_held, 0)])


def record_alias(client: Any, name: str, version: int | str, alias: str) -> None:
    """Note in the version's tags that it held ``alias`` (kept by the retention policy)."""
    mv = client.get_model_version(name, str(version))
    aliases = held(mv.tags or {})
    if alias not in aliases:
        value = ",".join(sorted(aliases | {alias}))
        client.set_model_version_tag(name, str(version), ALIASES_TAG, value)


def prune(registry: Any, domain: str, keep: int, keep_held: int) -> list[int]:
    """Apply the retention policy to ``<domain>-river``; the version numbers deleted."""
    from coelho.registry import registered_name

    name = registered_name(domain)
    versions = registry.versions(domain)
    for info in versions:
        for alias in set(info.aliases) - held(info.tags):
            record_alias(registry.client, name, info.version, alias)
    kept = keepers(versions, keep, keep_held)
    deleted = []
    for info in versions:
        if info.version not in kept:
            delete_version(registry, name, info.version)
            deleted.append(info.version)
    if deleted:
        log.info("retention %s: deleted versions %s, kept %s", name, deleted, sorted(kept))
    return deleted


def delete_version(registry: Any, name: str, version: int) -> None:
    """Delete a version, its logged model and run, and their artifacts (module doc, 3).

    The version goes first, so nothing registered points at what follows; a crash halfway
    leaves deleted-marked runs, whose artifacts ``mlflow gc`` removes too. MLflow keeps a
    deleted version as a one-row tombstone (numbers are never reused) *with its tags*, so the
    tags (metrics, offsets: about 2 kB) are deleted first.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    client = registry.client
    mv = client.get_model_version(name, str(version))
    model_id = mv.model_id or str(mv.source or "").removeprefix("models:/")
    for key in mv.tags or {}:
        client.delete_model_version_tag(name, str(version), key)
    client.delete_model_version(name, str(version))
    locations = []
    if model_id.startswith("m-"):
        locations.append(client.get_logged_model(model_id).artifact_location)
        client.delete_logged_model(model_id)
    if mv.run_id:
        locations.append(client.get_run(mv.run_id).info.artifact_uri)
        client.delete_run(mv.run_id)
    for location in locations:
        try:
            get_artifact_repository(location, tracking_uri=registry.uri).delete_artifacts()
        except (MlflowException, OSError) as exc:  # mlflow gc deletes them later
            log.warning("retention %s v%s: artifacts at %s not deleted now: %s",
                        name, version, location, exc)  # fmt: skip


def log_history(
    registry: Any,
    domain: str,
    metrics: Mapping[str, float],
    step: int,
    timestamp_ms: int | None = None,
) -> str:
    """Append a snapshot's metrics to the domain's history run (made once); its run id.

    ``timestamp_ms``: the time of the last event the snapshot learned, as its run's curve has.
    """
    from mlflow.entities import Metric

    client = registry.client
    experiment = registry.mlflow.set_experiment(get(domain).title)
    found = client.search_runs(
        [experiment.experiment_id], f"tags.`{HISTORY_TAG}` = 'true'", max_results=1
    )
    if found:
        run_id = found[0].info.run_id
    else:
        run = client.create_run(experiment.experiment_id, run_name=f"{domain}-history",
                                tags={HISTORY_TAG: "true", "coelho.domain": domain})  # fmt: skip
        run_id = run.info.run_id
        client.set_terminated(run_id)
    at = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    batch = [Metric(key, float(value), at, step) for key, value in metrics.items()]
    client.log_batch(run_id, metrics=batch)
    return str(run_id)
