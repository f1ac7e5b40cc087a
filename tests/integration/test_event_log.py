"""The log's append fast path against a real Redis: scripts flushed, connections killed."""

from __future__ import annotations

import threading
from typing import Any

from coelho.state import EventLog, Keys

SOURCE = "/apis/v1/namespaces/coelho/kafkasources/tfd#transaction_fraud_detection"


def _append(log: EventLog, offset: int) -> bool:
    """True if appended, False if it was a duplicate."""
    result = log.append(SOURCE, f"partition:0/offset:{offset}", {"n": offset}, ("t", 0, offset))
    return not result.duplicate


def test_append_survives_a_script_flush_and_a_killed_connection(redis_client: Any) -> None:
    log = EventLog(redis_client, "tfd", 60)
    assert _append(log, 1)
    redis_client.script_flush()  # as after a Redis restart without persistence of scripts
    assert _append(log, 2)
    killed = redis_client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1  # the log's own connection was among them
    assert _append(log, 3)
    assert not _append(log, 3)  # still deduplicated after the reconnect
    assert [e.event["n"] for e in log.entries()] == [1, 2, 3]
    counters = redis_client.hgetall(Keys("tfd").counters)
    assert counters == {b"appended": b"3", b"duplicates_skipped": b"1"}


def test_concurrent_threads_append_each_event_once(redis_client: Any) -> None:
    log = EventLog(redis_client, "tfd", 60)
    results: list[bool] = []

    def send(base: int) -> None:
        results.extend(_append(log, base + i) for i in range(50))

    threads = [threading.Thread(target=send, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 200
    assert sorted(e.event["n"] for e in log.entries()) == sorted(
        k * 1000 + i for k in range(4) for i in range(50)
    )
