"""The viral analytics projection: a consumer group of its own over shares, clicks, conversions and
attribution's verdicts (and erasures), so the read models never slow attribution down nor share
its transactions. It emits nothing.

Verdicts other than ConversionAttributed (unattributed, rejected, reversed) change no figure and
are skipped by the consumer as events it has no handler for.
"""
from __future__ import annotations

from itertools import groupby
from typing import Any

import asyncpg

from attribution import analytics_facts as facts
from attribution import analytics_repo as repo
from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import (ConversionAttributed, ConversionRecorded, CustomerErased, LinkClicked,
                                      ShareRecorded)
from kaskade_platform.consumer import BatchConsumer, Delivery, Handler
from kaskade_platform.dedupe import first_of_each_new
from kaskade_platform.kafka import subscribe
from kaskade_platform.runtime import ServiceRuntime

GROUP_ID = "attribution-analytics"
# Erasures last: an erasure that shares a batch with the customer's own events must see them stored.
TOPICS = (topics.SHARES, topics.CLICKS, topics.CONVERSIONS, topics.ATTRIBUTIONS, topics.ERASURES)


async def on_shares(conn: asyncpg.Connection, shares: list[Envelope[ShareRecorded]]) -> list[Envelope[Any]]:
    await repo.upsert_links(conn, facts.links_from_shares(shares))
    await repo.upsert_customers(conn, facts.from_shares(shares))
    return []


async def on_clicks(conn: asyncpg.Connection, clicks: list[Envelope[LinkClicked]]) -> list[Envelope[Any]]:
    fresh = await repo.insert_clicks(conn, clicks)
    if fresh:
        await repo.upsert_links(conn, facts.link_clicks(fresh))
    return []


async def on_conversions(conn: asyncpg.Connection,
                         convs: list[Envelope[ConversionRecorded]]) -> list[Envelope[Any]]:
    await repo.insert_conversions(conn, convs)
    await repo.upsert_customers(conn, facts.from_conversions(convs))
    return []


async def on_attributions(conn: asyncpg.Connection,
                          verdicts: list[Envelope[ConversionAttributed]]) -> list[Envelope[Any]]:
    await repo.upsert_customers(conn, facts.from_attributions(verdicts))
    return []


async def on_erasures(conn: asyncpg.Connection, erased: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
    for e in erased:
        await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
    return []


HANDLERS: dict[type[Any], Handler] = {
    ShareRecorded: on_shares, LinkClicked: on_clicks, ConversionRecorded: on_conversions,
    ConversionAttributed: on_attributions, CustomerErased: on_erasures,
}


class AnalyticsConsumer(BatchConsumer):
    """A BatchConsumer that claims event ids in `analytics_processed_events`.

    `processed_events` is keyed by event id alone and attribution's own group claims the same
    shares, clicks and conversions there: a second group claiming in it would take events from the
    first. (The platform fix is to key claims by consumer group; until then this copy of `_apply`
    differs from the platform's in the claims table only.)
    """

    async def _apply(self, batch: list[Delivery]) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            claimed = {r["event_id"] for r in await conn.fetch(
                """INSERT INTO analytics_processed_events (event_id, topic)
                   SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING RETURNING event_id""",
                [d.envelope.event_id for d in batch], [d.record.topic for d in batch])}
            fresh = [d.envelope for d in first_of_each_new(batch, lambda d: d.envelope.event_id, claimed)]
            for payload_type, run in groupby(fresh, key=lambda e: type(e.payload)):
                await self.handlers[payload_type](conn, list(run))
        self.stats["applied"] += len(fresh)
        self.stats["duplicates"] += len(batch) - len(fresh)


def consume_analytics(runtime: ServiceRuntime, group_id: str = GROUP_ID) -> BatchConsumer:
    """Subscribe the projection in `runtime`; a new group starts from the topics' beginning."""
    s = runtime.settings
    consumer = AnalyticsConsumer(
        name=f"{s.service_name}:analytics", group_id=group_id, broker=runtime.broker, outbox=runtime.outbox,
        pool=lambda: runtime.pool, handlers=HANDLERS, max_attempts=s.max_attempts,
        backoff_initial_s=s.retry_backoff_initial_s, backoff_max_s=s.retry_backoff_max_s,
        topic_order=[t.name for t in TOPICS])
    subscribe(runtime.broker, consumer, TOPICS, max_records=s.consume_max_records,
              batch_timeout_ms=s.consume_batch_timeout_ms)
    runtime.consumers.append(consumer)
    return consumer
