"""Retention of the idempotent consumer's claims (processed_events).

A claim only has to outlive every way its event can come back: Kafka redelivers from the last
committed offset, and the event topics keep 7 days; an outbox relay republishes within seconds.
So claims older than `claim_retention_s` (14 days by default) are deleted, a chunk at a time so
that no purge holds locks or bloats one transaction. Compacted topics (campaigns, customers,
tenants) keep old records forever, but their handlers apply versioned state, so a replay of one
whose claim is gone changes nothing.
"""
from __future__ import annotations

import asyncpg

CHUNK = 10_000


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
