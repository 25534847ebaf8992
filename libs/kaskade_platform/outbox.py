"""Transactional outbox: events a service emits are rows written with its state change.

`enqueue` runs inside the caller's transaction, so the state change and the events it emits
commit or vanish together. The relay (relay.py) ships them to Kafka afterwards.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, encode_envelope


def kafka_headers(envelope: Envelope[Any]) -> dict[str, str]:
    """Headers let consumers route and trace without parsing the body; the body stays the truth."""
    return {
        "kaskade-event-type": envelope.event_type,
        "kaskade-schema-version": str(envelope.schema_version),
        "kaskade-tenant-id": envelope.tenant_id,
        "kaskade-event-id": str(envelope.event_id),
        "kaskade-correlation-id": str(envelope.correlation_id),
    }


class Outbox:
    """Writes outbox rows and wakes this process's relay once they are committed."""

    def __init__(self) -> None:
        self.committed = asyncio.Event()

    async def enqueue(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope[Any]]) -> None:
        if not envelopes:
            return
        # One round trip for the whole batch, whatever its size.
        await conn.execute(
            """INSERT INTO outbox (event_id, event_type, topic, partition_key, body, headers)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::jsonb[])""",
            [e.event_id for e in envelopes],
            [e.event_type for e in envelopes],
            [e.payload.topic for e in envelopes],
            [e.payload.partition_key(e.tenant_id).encode() for e in envelopes],
            [encode_envelope(e) for e in envelopes],
            [kafka_headers(e) for e in envelopes],
        )

    def notify_committed(self) -> None:
        """Call after the transaction that enqueued events has committed."""
        self.committed.set()
