"""The producers' command-line surface shared by ``python -m coelho.producer`` and ``coelho
produce``: the pace rule, the generator options each domain declares, and the progress bar.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

from coelho.domains import REGISTRY, get

Progress = Callable[[int], None]


def pace(count: int | None, rate: float | None) -> float | None:
    """The rate a command line asked for: a bounded run without ``--rate`` is unthrottled
    (1,000 ETA events at the seed's pace took 9 minutes), an endless one keeps the seed's."""
    if rate is not None and rate < 0:
        raise ValueError(f"--rate must be >= 0, got {rate!r}")
    return rate if rate is not None or count is None else 0.0


def add_generator_options(parser: argparse.ArgumentParser) -> None:
    """One ``--<option>`` per generator option of any domain (``chosen_options`` checks it
    belongs to the domain asked for)."""
    seen: dict[str, list[str]] = {}
    for domain in REGISTRY.values():
        for option in domain.generator_options:
            seen.setdefault(option.name, []).append(domain.key)
    for domain in REGISTRY.values():
        for option in domain.generator_options:
            if seen.get(option.name) is None:
                continue
            owners = ", ".join(seen.pop(option.name))
            text = f"{owners}: {option.help} (default {option.default:g})"
            parser.add_argument(option.flag, type=float, default=None, metavar="X", help=text)


def chosen_options(args: argparse.Namespace, domain: str) -> dict[str, float]:
    """The generator options given on the command line; ``ValueError`` names an option that
    belongs to another domain or is out of range."""
    spec = get(domain)
    own = {o.name for o in spec.generator_options}
    given = {
        option.name: getattr(args, option.name)
        for d in REGISTRY.values()
        for option in d.generator_options
        if getattr(args, option.name, None) is not None
    }
    for name in given:
        if name not in own:
            flag = "--" + name.replace("_", "-")
            theirs = ", ".join(sorted(o.flag for o in spec.generator_options)) or "none"
            raise ValueError(f"{flag} is not an option of {domain} (its options: {theirs})")
    return spec.options(given)


def progress_bar(total: int, stream: TextIO = sys.stderr) -> Progress:
    """Redraws ``[####    ] n/total  rate ev/s`` on a terminal; elsewhere a line per 10 %."""
    began = time.monotonic()
    shown = [-1]
    tty = stream.isatty()

    def show(done: int) -> None:
        tenth = done * 10 // max(total, 1)
        if not tty and tenth == shown[0]:
            return
        shown[0] = tenth
        elapsed = max(time.monotonic() - began, 1e-9)
        filled = done * 30 // max(total, 1)
        line = f"[{'#' * filled}{' ' * (30 - filled)}] {done}/{total}  {done / elapsed:,.0f} ev/s"
        stream.write(("\r" + line) if tty else line + "\n")
        if tty and done >= total:
            stream.write("\n")
        stream.flush()

    return show
