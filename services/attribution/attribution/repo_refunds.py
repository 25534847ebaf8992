"""attribution's SQL for refunds: those waiting for their conversion's verdict (released by
repo_cascade.record with the verdict), and each refund reversed once."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from kaskade_contracts.envelope import Envelope, encode_envelope
from kaskade_contracts.events import RefundRecorded


async def hold_refunds(conn: asyncpg.Connection, refunds: Sequence[Envelope[RefundRecorded]], at: datetime) -> None:
    if refunds:
        await conn.execute(
            """INSERT INTO held_refunds (tenant_id, refund_id, conversion_id, envelope, held_at)
               SELECT t, r, c, e, $5 FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::bytea[]) AS n(t, r, c, e)
               ON CONFLICT DO NOTHING""",
            [e.tenant_id for e in refunds], [e.payload.refund_id for e in refunds],
            [e.payload.conversion_id for e in refunds], [encode_envelope(e) for e in refunds], at)


async def drop_stale_refunds(conn: asyncpg.Connection, held_before: datetime, limit: int = 1000) -> int:
    """Forget refunds whose conversion never showed up at all."""
    return len(await conn.fetch(
        """DELETE FROM held_refunds WHERE (tenant_id, refund_id) IN (
               SELECT tenant_id, refund_id FROM held_refunds WHERE held_at < $1
               ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING 1""", held_before, limit))


async def insert_reversals(conn: asyncpg.Connection, rows: Sequence[tuple[str, uuid.UUID, uuid.UUID, int, datetime]]
                           ) -> set[tuple[str, uuid.UUID]]:
    """Record each refund's reversal once; returns the refunds not reversed before."""
    if not rows:
        return set()
    recorded = await conn.fetch(
        """INSERT INTO reversals (tenant_id, refund_id, conversion_id, amount_minor, reversed_at)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::bigint[], $5::timestamptz[])
           ON CONFLICT DO NOTHING RETURNING tenant_id, refund_id""", *[list(c) for c in zip(*rows)])
    return {(r["tenant_id"], r["refund_id"]) for r in recorded}
