"""The archive's progress as ``coelho status`` shows it, from Redis alone (no S3, no deltalake).

``archived_events`` is the row count of the domain's table at the archive's last commit (the
mirror ``coelho:<d>:archive``); ``archive_lag_events`` is the number of log entries appended
since the archive's cursor (the stream's ``entries-added`` minus the cursor's ordinal; None
until the archive has once caught up with the log); ``archive_lag_seconds`` is the age of the
oldest log entry the archive has not read yet.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from coelho.state.keys import Keys


def archive_status(client: redis.Redis, domain: str) -> dict[str, Any]:
    keys = Keys(domain)
    mirror = {k.decode(): v.decode() for k, v in client.hgetall(keys.archive).items()}
    position = mirror.get("position", "0-0")
    lag_events: int | None = 0  # no log yet: nothing to archive
    lag_seconds = 0.0
    if client.exists(keys.log):
        lag_events = None
        added = int(client.xinfo_stream(keys.log).get("entries-added", 0) or 0)
        if "ordinal" in mirror:
            lag_events = max(0, added - int(mirror["ordinal"]))
        elif not mirror:
            lag_events = added  # nothing archived yet: every entry ever appended is behind
        first = client.xrange(keys.log, min=f"({position}", count=1)
        if first:
            ms = int(first[0][0].decode().split("-", 1)[0])
            lag_seconds = round(max(0.0, time.time() - ms / 1000), 1)
    return {
        "archived_events": int(mirror.get("rows", 0)),
        "archive_lag_events": lag_events,
        "archive_lag_seconds": lag_seconds,
        "archive_position": position,
        "archive_updated_at": float(mirror.get("updated_at", 0.0)),
    }
