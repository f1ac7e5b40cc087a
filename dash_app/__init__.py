"""The COELHO dashboard: a multi-page Dash app over the predict URLs, Redis state and MLflow.

It talks to the platform the way a user's own client would: it POSTs to the predict
functions, probes their readiness, reads the writer's published stats and capped metric
history from Redis, asks MLflow for registered versions, and pauses ingestion through the
emulator's control endpoint (locally) or the KafkaSource scale subresource (on the cluster).
``python -m dash_app --host 127.0.0.1 --port 8050`` serves it.
"""

from __future__ import annotations
