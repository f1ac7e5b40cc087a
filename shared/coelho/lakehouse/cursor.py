"""The archive's cursor: a Redis stream id carried as a Delta application-transaction version.

A Delta ``txn`` action records, per application id, the last version that application
committed; it is part of the commit, so it moves atomically with the rows. The archive uses
the id of the last log entry in a batch as that version, packed into one non-negative 64-bit
integer: ``ms << 20 | seq``. Milliseconds since 1970 need 41 bits until the year 2039 + 34k
years... (2**43 ms is year 2248), a stream id's sequence number counts entries within one
millisecond and stays far below 2**20 (a Redis server appends well under a million entries per
millisecond), so the packing is exact and ordered like the stream ids themselves.
"""

from __future__ import annotations

SEQ_BITS = 20
START = "0-0"


def split(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def to_version(entry_id: str) -> int:
    """Pack a stream id into a txn version.

    >>> to_version("1700000000000-3") == (1700000000000 << 20) | 3
    True
    >>> from_version(to_version("1700000000000-3"))
    '1700000000000-3'
    """
    ms, seq = split(entry_id)
    if seq >= 1 << SEQ_BITS:
        raise ValueError(f"stream id {entry_id}: sequence {seq} does not fit {SEQ_BITS} bits")
    return (ms << SEQ_BITS) | seq


def from_version(version: int | None) -> str:
    """The stream id a txn version stands for ("0-0" when the table has none yet)."""
    if not version:
        return START
    return f"{version >> SEQ_BITS}-{version & ((1 << SEQ_BITS) - 1)}"


def before(a: str, b: str) -> bool:
    """Stream id ``a`` sorts strictly before ``b``.

    >>> before("9-5", "10-0"), before("10-0", "10-0")
    (True, False)
    """
    return split(a) < split(b)
