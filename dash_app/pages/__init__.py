"""One module per page (Dash Pages); each registers itself and keeps its callbacks beside it."""

from __future__ import annotations
