"""COELHO RealTime: online machine learning as stateless serverless functions.

The data path is the architecture: a Kafka record becomes a CloudEvent, a Trigger routes it
to a learn function, the learn function appends it to a per-domain log in Redis, and the
single writer of that domain applies it to a River model (see ``coelho.state``).

Subpackages, in the order an event meets them:

- ``coelho.domains``: the registry of use cases (schema, producer, pipelines, metrics).
- ``coelho.events``: CloudEvent parsing and validation for the functions.
- ``coelho.state``: the exactly-once log, signed checkpoints and the single writer.
- ``coelho.eventing``: the local emulator of KafkaSource, Broker and Trigger.
- ``coelho.stack``: the local supervisor behind ``make up``.
"""

from __future__ import annotations

__version__ = "0.1.0"
