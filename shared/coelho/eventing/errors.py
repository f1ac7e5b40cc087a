"""Errors the emulator raises on purpose; each message names the file, resource and field."""

from __future__ import annotations


class EventingError(Exception):
    """Base class for every emulator error."""


class ManifestError(EventingError):
    """A manifest is malformed, or uses a field the emulator cannot honour.

    The message reads ``<file>: <Kind> <name>: <field path>: <reason>`` so the bad line can be
    found without a stack trace.
    """


class ResolutionError(EventingError):
    """A destination (sink, subscriber, dead-letter sink) cannot be resolved at start."""
