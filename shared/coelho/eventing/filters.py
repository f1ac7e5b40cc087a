"""Trigger filtering: which events a Trigger lets through. Pure functions, case-sensitive.

``filters`` (the CloudEvents Subscriptions API dialects) wins over the legacy
``filter.attributes`` when it is non-empty, exactly as Knative does. Legacy attributes are ANDed
exact matches where ``""`` means "any value"; as in Knative's attributes filter, a missing
*standard* attribute (e.g. ``subject``) reads as ``""`` while a missing *extension* never
matches. exact/prefix/suffix values are never empty (rejected at load), so an attribute the event
lacks never matches them.
"""

from __future__ import annotations

from collections.abc import Mapping

from coelho.eventing.model import All, AnyOf, Exact, FilterExpr, Not, Prefix, Suffix, Trigger

STANDARD_ATTRIBUTES = frozenset(
    {
        "specversion",
        "type",
        "source",
        "subject",
        "id",
        "time",
        "schemaurl",
        "dataschema",
        "datacontenttype",
        "datamediatype",
        "datacontentencoding",
    }
)


def matches_attributes(attributes: Mapping[str, str], event: Mapping[str, str]) -> bool:
    """Legacy ``filter.attributes``: every listed attribute equal (``""`` = any value)."""
    for name, wanted in attributes.items():
        value = event.get(name)
        if value is None:
            if name not in STANDARD_ATTRIBUTES:
                return False
            value = ""
        if wanted and wanted != value:
            return False
    return True


def matches_expr(expr: FilterExpr, event: Mapping[str, str]) -> bool:
    """One Subscriptions API expression against the event's context attributes."""
    if isinstance(expr, Exact):
        return event.get(expr.attribute) == expr.value
    if isinstance(expr, Prefix):
        value = event.get(expr.attribute)
        return value is not None and value.startswith(expr.value)
    if isinstance(expr, Suffix):
        value = event.get(expr.attribute)
        return value is not None and value.endswith(expr.value)
    if isinstance(expr, All):
        return all(matches_expr(e, event) for e in expr.filters)
    if isinstance(expr, AnyOf):
        return any(matches_expr(e, event) for e in expr.filters)
    if isinstance(expr, Not):
        return not matches_expr(expr.filter, event)
    raise TypeError(f"not a filter expression: {expr!r}")


def matches(
    attributes: Mapping[str, str], filters: tuple[FilterExpr, ...], event: Mapping[str, str]
) -> bool:
    """The Trigger rule: all ``filters`` if any are set, else the legacy ``attributes``."""
    if filters:
        return all(matches_expr(e, event) for e in filters)
    return matches_attributes(attributes, event)


def trigger_matches(trigger: Trigger, event: Mapping[str, str]) -> bool:
    return matches(trigger.attributes, trigger.filters, event)
