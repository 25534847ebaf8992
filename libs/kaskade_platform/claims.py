"""The idempotent consumer's claims (processed_events): taking them, and their retention.

A batch's event ids are claimed first in its transaction, with a plain insert: almost every batch
is new, and `ON CONFLICT DO NOTHING` would check every id before inserting it (speculative
insertion: 5.2 against 3.4 ms for 1,000 ids, measured). An id claimed before (a replay after a
crash or a rebalance, or two copies in one batch) then fails the insert, which ends the
transaction before it did anything else; the consumer runs it again claiming only new ids. (The
server log shows that insert's duplicate-key error: after a rebalance or a restart, expect one per
batch replayed.)

A claim only has to outlive every way its event can come back: Kafka redelivers from the last
committed offset, and the event topics keep 7 days; an outbox relay republishes within seconds.
So claims older than `claim_retention_s` (14 days by default) are deleted, a chunk at a time so
that no purge holds locks or bloats one transaction. Compacted topics (campaigns, customers,
tenants) keep old records forever, but their handlers apply versioned state, so a replay of one
whose claim is gone changes nothing.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from kaskade_platform.texts import packed

CHUNK = 10_000


class Replayed(Exception):
    """Some of the batch's events were claimed before: its transaction is void; claim again with `careful`."""


async def claim(conn: asyncpg.Connection, ids: Sequence[uuid.UUID], topics: Sequence[str], scope: str, *,
                careful: bool) -> set[uuid.UUID] | None:
    """Claim the events `ids` (read from `topics`) for the consumer `scope`. Returns None when all
    of them are new, else the ids new now. Not `careful`, an id claimed before raises `Replayed`."""
    if not careful:
        try:
            await conn.execute(
                """INSERT INTO processed_events (event_id, topic, consumer_group)
                   SELECT e, t, $3 FROM unnest($1::uuid[], unpack_texts($2)) AS x(e, t)""",
                ids, packed(topics), scope)
        except asyncpg.UniqueViolationError as exc:
            raise Replayed from exc
        return None
    # How many were claimed now, and only when that is not all of them, which were claimed before:
    # the common batch (every event new, none twice) reads back no ids to hash.
    claimed_now, before = await conn.fetchrow(
        """WITH c AS (INSERT INTO processed_events (event_id, topic, consumer_group)
                      SELECT e, t, $3 FROM unnest($1::uuid[], unpack_texts($2)) AS x(e, t)
                      ON CONFLICT DO NOTHING RETURNING event_id)
           SELECT n, CASE WHEN n < cardinality($1::uuid[]) THEN
                          ARRAY(SELECT unnest($1::uuid[]) EXCEPT SELECT event_id FROM c) END
           FROM (SELECT count(*) AS n FROM c) AS claimed""",
        ids, packed(topics), scope)
    return None if claimed_now == len(ids) else set(ids) - set(before)


async def purge_claims(conn: asyncpg.Connection, retention_s: float, *, chunk: int = CHUNK,
                       max_rows: int = 200_000) -> int:
    """Delete claims older than the retention, at most `max_rows` per call; returns how many."""
    purged = 0
    while purged < max_rows:
        n = int((await conn.execute(
            """DELETE FROM processed_events WHERE ctid = ANY(ARRAY(
                 SELECT ctid FROM processed_events WHERE processed_at < now() - make_interval(secs => $1)
                 LIMIT $2))""", retention_s, chunk)).split()[-1])
        purged += n
        if n < chunk:
            break
    return purged
