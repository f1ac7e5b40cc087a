"""Layout pieces and figures shared by the pages; panels keep their callbacks beside them."""

from __future__ import annotations
