"""Local emulation of Knative eventing, driven only by the manifests in ``eventing/*.yaml``.

KafkaSource -> Broker -> Trigger -> subscriber, with Knative's semantics: the CloudEvent a
KafkaSource makes of a record, Trigger filters, retries/backoff/dead-letter sinks, replies,
per-partition ordering and offsets committed only after delivery (at-least-once), plus
PingSource. Read the modules in data-path order: ``manifests`` (+ ``duck``, ``model``) ->
``kafkasource`` (+ ``consumer``, ``partition``, ``offsets``) -> ``cloudevent`` -> ``broker``
(+ ``filters``) -> ``delivery`` (+ ``resolve``, ``transport``); ``ping`` (+ ``cron``) is the other
source; ``emulator`` wires them, ``control`` serves /status, ``__main__`` is the CLI.
Nothing here imports ``coelho.state``: this is generic Knative emulation.
"""

from __future__ import annotations

from coelho.eventing.emulator import Emulator
from coelho.eventing.errors import EventingError, ManifestError, ResolutionError
from coelho.eventing.manifests import load

__all__ = ["Emulator", "EventingError", "ManifestError", "ResolutionError", "load"]
