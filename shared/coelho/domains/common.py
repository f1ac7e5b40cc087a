"""Vocabulary more than one domain uses (the seed shares them between producers)."""

from __future__ import annotations

OPERATING_SYSTEMS = ("iOS", "Android", "Windows", "macOS", "Linux", "Other")
BROWSERS = ("Chrome", "Safari", "Firefox", "Edge", "Opera", "Other")
# The Houston metro bounding box of the ETA and ECCI producers.
LAT_RANGE = (29.5, 30.1)
LON_RANGE = (-95.8, -95.0)


RIVER_DOCS = "https://riverml.xyz/latest/api"


def docs(page: str) -> str:
    """River's API page, e.g. ``docs("metrics/MAE")``."""
    return f"{RIVER_DOCS}/{page}/"
