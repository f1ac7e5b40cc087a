"""Dead-lettered records to the ``raw-data`` bucket as JSON lines, each with its reason.

The dead-letter stream (``coelho:deadletters``, all domains) is copied in batches to
``raw-data/dead-letters/date=<UTC date>/<first stream id>.jsonl``, then the cursor in Redis
(``coelho:deadletters:archive``) moves past the batch. A crash between the two re-reads the
batch from the same cursor, so it starts at the same first id and overwrites the same object
with the same lines (plus any that arrived since): each record ends up in exactly one object.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import redis

from coelho.lakehouse import cursor
from coelho.lakehouse.storage import Storage
from coelho.state.keys import DEAD_LETTERS, DEAD_LETTERS_ARCHIVE

PREFIX = "dead-letters"


def object_key(first_id: str) -> str:
    """Where the batch starting at ``first_id`` goes (dated by that entry's time).

    >>> object_key("1700000000000-0")
    'dead-letters/date=2023-11-14/1700000000000-0.jsonl'
    """
    day = datetime.fromtimestamp(cursor.split(first_id)[0] / 1000, UTC).date().isoformat()
    return f"{PREFIX}/date={day}/{first_id}.jsonl"


def archive_dead_letters(client: redis.Redis, storage: Storage, batch: int = 1000) -> int:
    """Copy every dead letter after the cursor; returns how many records were written."""
    fs = None
    written = 0
    while True:
        raw = client.hget(DEAD_LETTERS_ARCHIVE, "position")
        position = raw.decode() if raw else cursor.START
        entries = client.xrange(DEAD_LETTERS, min=f"({position}", count=batch)
        if not entries:
            return written
        fs = fs or storage.filesystem()
        first = entries[0][0].decode()
        lines = [json.dumps(_record(entry_id.decode(), fields), sort_keys=True)
                 for entry_id, fields in entries]  # fmt: skip
        path = f"{storage.settings.raw_bucket}/{object_key(first)}"
        with fs.open_output_stream(path) as out:
            out.write(("\n".join(lines) + "\n").encode())
        client.hset(DEAD_LETTERS_ARCHIVE, mapping={"position": entries[-1][0].decode(),
                                                   "updated_at": time_now()})  # fmt: skip
        written += len(entries)
        if len(entries) < batch:
            return written


def _record(entry_id: str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    record: dict[str, Any] = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
    record["log_id"] = entry_id
    record.setdefault("reason", "")
    return record


def time_now() -> float:
    return datetime.now(UTC).timestamp()
