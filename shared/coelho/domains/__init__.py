"""The domain registry: every producer, function, page and test reads domains from here.

Adding a fourth use case means writing one module that defines ``DOMAIN`` and listing it in
``_MODULES``.
"""

from __future__ import annotations

from importlib import import_module

from coelho.domains.base import (
    Domain,
    GeneratorOption,
    GuardSpec,
    MetricSpec,
    ModelSpec,
    ProducerGauge,
)
from coelho.domains.schema import FieldSpec
from coelho.errors import UnknownDomain

_MODULES = ("tfd", "eta", "ecci")

REGISTRY: dict[str, Domain] = {
    domain.key: domain
    for domain in (import_module(f"coelho.domains.{name}").DOMAIN for name in _MODULES)
}


def get(key: str) -> Domain:
    """The domain called ``key``, or ``UnknownDomain`` listing the valid names."""
    try:
        return REGISTRY[key]
    except KeyError:
        raise UnknownDomain(f"unknown domain {key!r}; expected one of {sorted(REGISTRY)}") from None


__all__ = [
    "REGISTRY",
    "Domain",
    "FieldSpec",
    "GeneratorOption",
    "GuardSpec",
    "MetricSpec",
    "ModelSpec",
    "ProducerGauge",
    "get",
]
