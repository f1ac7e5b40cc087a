"""When a newly registered version becomes the ``champion`` (a pure, documented policy).

Promotion policy (``decide``): a new version becomes champion when it has learned at least
``COELHO_PROMOTE_MIN_EVENTS`` events (default 200) and either there is no champion yet, or its
promotion metric is at least as good as the champion's was when that one was registered. The
promotion metric is the rolling variant of the domain's headline metric when the domain has one
(tfd RollingROCAUC, eta RollingMAE, ecci RollingSilhouette), else the headline, i.e. recent
performance, so a model that degraded under drift is not promoted. The reason is kept in the
version tag ``coelho.promotion``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from coelho.domains import get


def min_events() -> int:
    return int(os.environ.get("COELHO_PROMOTE_MIN_EVENTS", "200"))


def promotion_metric(domain: str) -> tuple[str, bool]:
    """(metric name, higher is better) the policy compares for ``domain``."""
    specs = {m.name: m for m in get(domain).metrics()}
    headline = get(domain).headline_metric
    chosen = specs.get(f"Rolling{headline}") or specs[headline]
    return chosen.name, chosen.higher_is_better


def decide(
    metric: str,
    higher_is_better: bool,
    candidate: Mapping[str, float],
    events_learned: int,
    champion: Mapping[str, float] | None,
    minimum_events: int,
) -> tuple[bool, str]:
    """The promotion policy (module doc) as a pure function: (promote?, reason).

    >>> decide("MAE", False, {"MAE": 40.0}, 500, {"MAE": 42.0}, 200)
    (True, "MAE 40 is at least as good as the champion's 42")
    >>> decide("MAE", False, {"MAE": 40.0}, 50, None, 200)
    (False, 'only 50 events learned (< 200)')
    """
    if events_learned < minimum_events:
        return False, f"only {events_learned} events learned (< {minimum_events})"
    if champion is None:
        return True, f"first champion ({events_learned} events learned)"
    mine, theirs = candidate.get(metric), champion.get(metric)
    if theirs is None:
        return True, f"the champion has no {metric}"
    if mine is None:
        return False, f"no {metric} yet"
    if (mine >= theirs) if higher_is_better else (mine <= theirs):
        return True, f"{metric} {mine:.4g} is at least as good as the champion's {theirs:.4g}"
    return False, f"{metric} {mine:.4g} is worse than the champion's {theirs:.4g}"
