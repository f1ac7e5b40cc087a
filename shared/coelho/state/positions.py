"""Deduplication by Kafka position: memory per partition, not per event.

A KafkaSource turns the record at (topic, partition, offset) into a CloudEvent whose ``source``
is ``/apis/v1/namespaces/<ns>/kafkasources/<name>#<topic>`` and whose ``id`` is
``partition:<p>/offset:<o>`` (knative-facts 1.6). For such an event the dedupe identity
(source, id) *is* a position, so instead of one marker key per event we keep, per (source,
partition), the set of offsets already resolved, as a sorted set of ranges (member = first
offset, score = last). Deciding "seen?" and recording it is part of the same Lua script as the
append, so a redelivery can never slip between the check and the write.

Why the ``id`` and not the ``knativekafkapartition``/``knativekafkaoffset`` extensions: every
Kafka data-plane dispatcher, the Broker's Trigger dispatcher included, overwrites those two
extensions with the position of the record *it* consumed. On the cluster a learn function is
fed by a Kafka Broker, so the extensions name the Broker's topic, and a KafkaSource that
re-sends a record (after its own retry or rebalance) creates a new Broker record with new
extensions but the same ``source`` and ``id``. The ``id`` survives every hop; the extensions
do not. An ``id`` of another form (a record that already was a CloudEvent, a ping, a direct
POST) keeps the old rule: a marker key with a TTL (``COELHO_DEDUPE_TTL_SECONDS``).

Why ranges and not a high-water mark: offsets of one source partition can reach the function
out of order. The Kafka Broker re-partitions events by their ``partitionkey`` (the record key),
so records of one source partition travel through several Broker partitions, each delivered in
order but independently; while one of them retries a 503 the others go on. A high-water mark
would then call the retried record a duplicate and lose it. With ranges an offset is a
duplicate only if it was itself resolved.

What bounds the set: in order, it is one range per (source, partition). Each record still
missing above a resolved one (in flight, retrying, or behind in a lagging Broker partition)
costs one range until it arrives. A record that never arrives leaves a permanent gap, so the
dead-letter sink resolves the positions of the events it keeps (an event is then accounted for
exactly once: in the log, or in the dead letters). What can still leave a gap forever is an
event dropped because its dead-letter delivery failed too, or an offset no record has
(transaction markers, compaction); ``MAX_RANGES`` caps the set against those: past it the
oldest gap is closed (counted as ``gaps_closed``), which is safe as long as fewer than
``MAX_RANGES`` later records of the partition overtake a missing one. A partition with no
event for ``IDLE_SECONDS`` forgets its ranges (far beyond any redelivery).

Recovery: when Redis lost the state, a writer restores a registered snapshot and the source is
replayed from just after the offsets the snapshot covers (coelho.recovery). ``seed_floors``
records those offsets: a record at or below its topic-partition's floor is a duplicate, so a
consumer that re-reads committed offsets below the snapshot meanwhile adds nothing twice.

Note: positions outlive the topic. After deleting and re-creating a topic (offsets restart at
0), delete ``coelho:<d>:pos:*`` and ``coelho:<d>:floors`` or its new records are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import redis

from coelho.state.keys import Keys

MAX_RANGES = 100_000
IDLE_SECONDS = 30 * 24 * 3600
_RECORD_ID = re.compile(r"partition:(0|[1-9][0-9]{0,9})/offset:(0|[1-9][0-9]{0,17})")

# resolve(key, floors, floor field, offset, idle s, max ranges, counters): 1 if the offset was
# new and is now recorded, 0 if it was already resolved. Ranges are disjoint; a lookup of the
# first range ending at or after the offset answers "covered?", the range ending just before
# it and the one starting just after it are the only candidates to merge with.
RESOLVE = """
local function resolve(key, floors, field, offset, idle, max, counters)
  local o = tonumber(offset)
  local nxt = redis.call('ZRANGEBYSCORE', key, o, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  local nlo = nxt[1] and tonumber(nxt[1])
  if nlo and nlo <= o then return 0 end
  if field ~= '' then
    local floor = redis.call('HGET', floors, field)
    if floor and o <= tonumber(floor) then return 0 end
  end
  local prev = redis.call('ZRANGEBYSCORE', key, o - 1, o - 1, 'LIMIT', 0, 1)
  if prev[1] and nlo == o + 1 then
    redis.call('ZREM', key, nxt[1])
    redis.call('ZADD', key, nxt[2], prev[1])
  elseif prev[1] then
    redis.call('ZADD', key, o, prev[1])
  elseif nlo == o + 1 then
    redis.call('ZREM', key, nxt[1])
    redis.call('ZADD', key, nxt[2], offset)
  else
    redis.call('ZADD', key, o, offset)
    if redis.call('ZCARD', key) > tonumber(max) then
      local low = redis.call('ZRANGE', key, 0, 1, 'WITHSCORES')
      redis.call('ZREM', key, low[1], low[3])
      redis.call('ZADD', key, low[4], low[1])
      redis.call('HINCRBY', counters, 'gaps_closed', 1)
    end
  end
  redis.call('EXPIRE', key, idle)
  return 1
end
"""


def record_position(event_id: str) -> tuple[int, int] | None:
    """(partition, offset) of a KafkaSource record's CloudEvent id, else None.

    Only the exact form the KafkaSource writes counts, so that each id maps to one position
    and back: (source, id) and (source, partition, offset) are the same identity.

    >>> record_position("partition:2/offset:1041")
    (2, 1041)
    >>> record_position("partition:02/offset:1041") is None
    True
    """
    found = _RECORD_ID.fullmatch(event_id)
    return (int(found[1]), int(found[2])) if found else None


def floor_field(source: str, partition: int) -> str:
    """``<topic>:<partition>`` for a KafkaSource ``source`` (``...#<topic>``), else ""."""
    if "#" not in source:
        return ""
    return f"{source.rsplit('#', 1)[1]}:{partition}"


def seed_floors(client: redis.Redis, domain: str, offsets: Mapping[str, Mapping[int, int]]) -> None:
    """Record the offsets a restored snapshot covers: records up to them are duplicates."""
    fields = {f"{topic}:{p}": int(o) for topic, parts in offsets.items() for p, o in parts.items()}
    if fields:
        client.hset(Keys(domain).floors, mapping=fields)


def ranges(client: redis.Redis, domain: str, source: str, partition: int) -> list[tuple[int, int]]:
    """The resolved offset ranges of one (source, partition), lowest first (tests, status)."""
    found = client.zrange(Keys(domain).positions(source, partition), 0, -1, withscores=True)
    return [(int(lo), int(hi)) for lo, hi in found]
