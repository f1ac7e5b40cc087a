"""Strict readers for Knative's shared ("duck") types: Destination, DeliverySpec, KReference,
CloudEventOverrides, plus the typed field getters every kind uses.

Each reader checks for unknown and unsupported keys first and reports problems through ``Ctx``,
so a message always names the file, the resource and the field path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NoReturn

from coelho.eventing import model as m
from coelho.eventing.durations import parse_duration
from coelho.eventing.errors import ManifestError

EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")
RESERVED_ATTRIBUTES = frozenset(
    {
        "specversion",
        "id",
        "source",
        "type",
        "datacontenttype",
        "dataschema",
        "subject",
        "time",
        "data",
        "data_base64",
    }
)


class Ctx:
    """Where we are (file, kind, name) so every failure names it."""

    def __init__(self, file: str, kind: str = "document", name: str = "?") -> None:
        self.file, self.kind, self.name = file, kind, name

    def fail(self, path: str, reason: str) -> NoReturn:
        raise ManifestError(f"{self.file}: {self.kind} {self.name}: {path}: {reason}")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def mapping(
    ctx: Ctx, node: Any, path: str, allowed: Iterable[str], unsupported: Iterable[str] = ()
) -> dict[str, Any]:
    if not isinstance(node, dict):
        ctx.fail(path, f"expected a mapping, got {type(node).__name__}")
    allowed, unsupported = set(allowed), set(unsupported)
    for key in node:
        if key in unsupported:
            ctx.fail(join(path, key), "unsupported")
        if key not in allowed:
            ctx.fail(join(path, key), "unknown field")
    return node


def string(
    ctx: Ctx,
    node: dict[str, Any],
    key: str,
    path: str,
    *,
    required: bool = False,
    choices: Iterable[str] | None = None,
) -> str | None:
    value = node.get(key)
    if value is None:
        if required:
            ctx.fail(join(path, key), "required")
        return None
    if not isinstance(value, str) or (required and not value):
        ctx.fail(join(path, key), f"expected a non-empty string, got {value!r}")
    if choices is not None and value not in choices:
        ctx.fail(join(path, key), f"{value!r} is not one of {', '.join(choices)}")
    return value


def integer(ctx: Ctx, node: dict[str, Any], key: str, path: str, minimum: int) -> int | None:
    value = node.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        ctx.fail(join(path, key), f"expected an integer >= {minimum}, got {value!r}")
    return value


def string_list(ctx: Ctx, node: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = node.get(key)
    if not isinstance(value, list) or not value:
        ctx.fail(join(path, key), "required: a non-empty list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            ctx.fail(join(join(path, key), i), f"expected a non-empty string, got {item!r}")
    return tuple(value)


def string_map(ctx: Ctx, node: Any, path: str) -> dict[str, str]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        ctx.fail(path, f"expected a mapping of strings, got {type(node).__name__}")
    for key, value in node.items():
        if not isinstance(key, str) or not isinstance(value, str):
            ctx.fail(join(path, str(key)), f"expected a string value, got {value!r}")
    return dict(node)


def duration(ctx: Ctx, node: dict[str, Any], key: str, path: str) -> float | None:
    text = string(ctx, node, key, path)
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        ctx.fail(join(path, key), str(exc))


def reference(ctx: Ctx, node: Any, path: str, namespace: str) -> m.KReference:
    node = mapping(
        ctx, node, path, ("apiVersion", "kind", "name", "namespace"), ("group", "address")
    )
    return m.KReference(
        api_version=string(ctx, node, "apiVersion", path, required=True) or "",
        kind=string(ctx, node, "kind", path, required=True) or "",
        name=string(ctx, node, "name", path, required=True) or "",
        namespace=string(ctx, node, "namespace", path) or namespace,
    )


def destination(ctx: Ctx, node: Any, path: str, namespace: str) -> m.Destination:
    node = mapping(ctx, node, path, ("ref", "uri"), ("CACerts", "audience"))
    ref = reference(ctx, node["ref"], join(path, "ref"), namespace) if "ref" in node else None
    uri = string(ctx, node, "uri", path)
    if ref is None and not uri:
        ctx.fail(path, "expected at least one of ref, uri")
    if uri and ref is None and "://" not in uri:
        ctx.fail(join(path, "uri"), f"{uri!r} must be absolute when there is no ref")
    return m.Destination(ref=ref, uri=uri)


def delivery(ctx: Ctx, node: Any, path: str, namespace: str) -> m.DeliverySpec | None:
    if node is None:
        return None
    node = mapping(
        ctx,
        node,
        path,
        ("retry", "backoffPolicy", "backoffDelay", "timeout", "deadLetterSink", "format"),
        ("retryAfterMax",),
    )
    timeout = duration(ctx, node, "timeout", path)
    if timeout is not None and timeout <= 0:
        ctx.fail(join(path, "timeout"), "must be greater than zero")
    dls = node.get("deadLetterSink")
    return m.DeliverySpec(
        retry=integer(ctx, node, "retry", path, 0),
        backoff_policy=string(ctx, node, "backoffPolicy", path, choices=("linear", "exponential")),
        backoff_delay=duration(ctx, node, "backoffDelay", path),
        timeout=timeout,
        dead_letter_sink=None
        if dls is None
        else destination(ctx, dls, join(path, "deadLetterSink"), namespace),
        format=string(ctx, node, "format", path, choices=("json", "binary")),
    )


def ce_overrides(ctx: Ctx, node: Any, path: str) -> dict[str, str]:
    if node is None:
        return {}
    node = mapping(ctx, node, path, ("extensions",))
    extensions = string_map(ctx, node.get("extensions"), join(path, "extensions"))
    for name in extensions:
        if not EXTENSION_NAME.match(name) or name in RESERVED_ATTRIBUTES:
            ctx.fail(
                join(join(path, "extensions"), name),
                "not a valid CloudEvents extension name (lower-case a-z0-9, not reserved)",
            )
    return extensions
