"""ISO-8601 durations as Knative's DeliverySpec uses them (``PT0.2S``, ``PT10S``, ``P1D``).

Years and months are rejected: their length is ambiguous and Knative users never need them
for retry delays or timeouts.
"""

from __future__ import annotations

import re

_DURATION = re.compile(
    r"^P(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)
_SECONDS = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Return the duration in seconds; raise ValueError naming the text if it is not ISO-8601.

    >>> parse_duration("PT0.2S"), parse_duration("PT1M30S"), parse_duration("P1D")
    (0.2, 90.0, 86400.0)
    """
    norm = text.strip().upper() if isinstance(text, str) else ""
    match = _DURATION.match(norm)
    if match is None or norm in ("P", "PT") or norm.endswith("T"):
        raise ValueError(
            f"{text!r} is not an ISO-8601 duration like PT0.2S (years/months unsupported)"
        )
    return sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v is not None)
