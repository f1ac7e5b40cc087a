"""What went wrong, phrased for the person looking at the page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["danger", "warning", "info"]


@dataclass(frozen=True)
class Problem:
    """A failure a page shows as an alert: short title, one-sentence message, bad field."""

    title: str
    message: str
    field: str | None = None
    level: Level = "danger"

    def text(self) -> str:
        return f"{self.title}: {self.message}"
