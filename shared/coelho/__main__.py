"""``python -m coelho`` is the ``coelho`` CLI."""

from __future__ import annotations

from coelho.cli import main

raise SystemExit(main())
