"""Transactional outbox: events a service emits are rows written with its state change.

`enqueue` runs inside the caller's transaction, so the state change and the events it emits
commit or vanish together. The relay (relay.py) ships them to Kafka afterwards.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

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


# For a hot path that writes its outbox rows in the same statement as its own (see share-ingest's
# clicks): the column list, and the unnest() of the arrays `rows` returns, as $1..$7.
COLUMNS = "(event_id, event_type, topic, partition_key, body, headers, ephemeral)"
UNNEST = "$1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::jsonb[], $7::bool[]"


def rows(envelopes: Sequence[Envelope[Any]]) -> tuple[list[Any], ...]:
    """The outbox rows of `envelopes`, column by column."""
    return ([e.event_id for e in envelopes], [e.event_type for e in envelopes], [e.payload.topic for e in envelopes],
            [e.payload.partition_key(e.tenant_id).encode() for e in envelopes],
            [encode_envelope(e) for e in envelopes], [kafka_headers(e) for e in envelopes],
            [e.payload.ephemeral for e in envelopes])


class Outbox:
    """Writes outbox rows and wakes this process's relay once they are committed."""

    def __init__(self) -> None:
        self.committed = asyncio.Event()

    async def enqueue(self, conn: asyncpg.Connection, envelopes: Sequence[Envelope[Any]]) -> None:
        if not envelopes:
            return
        # One round trip for the whole batch, whatever its size.
        await conn.execute(f"INSERT INTO outbox {COLUMNS} SELECT * FROM unnest({UNNEST})", *rows(envelopes))

    async def enqueue_tombstones(self, conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> None:
        """Tombstones for (topic, partition key): compaction then drops every earlier value of the key."""
        if keys:
            await conn.execute(
                """INSERT INTO outbox (event_id, event_type, topic, partition_key, body, ephemeral)
                   SELECT gen_random_uuid(), 'tombstone', t, k, NULL, true FROM unnest($1::text[], $2::bytea[]) AS x(t, k)""",
                [t for t, _ in keys], [k.encode() for _, k in keys])

    @staticmethod
    async def forget(conn: asyncpg.Connection, tenant_id: str, customer_id: str) -> None:
        """Erasure: drop already published outbox rows that mention the customer (they are kept a
        while for audit). Unpublished rows stay: the relay must still deliver them, in order."""
        await conn.execute(
            """DELETE FROM outbox WHERE published_at IS NOT NULL AND position($1 IN body) > 0
               AND position($2 IN body) > 0""",
            orjson.dumps(tenant_id), orjson.dumps(customer_id))

    def notify_committed(self) -> None:
        """Call after the transaction that enqueued events has committed."""
        self.committed.set()
