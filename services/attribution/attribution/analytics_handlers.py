"""The viral analytics projection: a consumer group of its own over shares, clicks, conversions and
attribution's verdicts (and erasures), so the read models never slow attribution down nor share
its transactions. It emits nothing.

Verdicts other than ConversionAttributed (unattributed, rejected, reversed) change no figure and
are skipped by the consumer as events it has no handler for.
"""
from __future__ import annotations

from typing import Any

import asyncpg

from attribution import analytics_facts as facts
from attribution import analytics_repo as repo
from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import (AttributionReversed, ConversionAttributed, ConversionRecorded, CustomerErased,
                                      LinkClicked, ReferralReparented, ShareRecorded)
from kaskade_platform.consumer import BatchConsumer, Handler
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


async def on_reversals(conn: asyncpg.Connection,
                       reversals: list[Envelope[AttributionReversed]]) -> list[Envelope[Any]]:
    """A purchase refunded in full stops counting as a purchase (partial refunds leave it one)."""
    full = [(e.tenant_id, e.payload.conversion_id, e.payload.campaign_id, e.payload.referee_id) for e in reversals
            if e.payload.full and e.payload.conversion_amount_minor > 0]
    if full:
        await repo.upsert_customers(conn, facts.from_full_refunds(await repo.first_full_refunds(conn, full)))
    return []


async def on_reparented(conn: asyncpg.Connection,
                        moves: list[Envelope[ReferralReparented]]) -> list[Envelope[Any]]:
    """The latest place of each moved referee (in partition order, the last one wins)."""
    await repo.place_customers(conn, {(e.tenant_id, e.payload.campaign_id, e.payload.referee_id): e.payload.generation
                                      for e in moves})
    return []


async def on_erasures(conn: asyncpg.Connection, erased: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
    for e in erased:
        await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
    return []


HANDLERS: dict[type[Any], Handler] = {
    ShareRecorded: on_shares, LinkClicked: on_clicks, ConversionRecorded: on_conversions,
    ConversionAttributed: on_attributions, AttributionReversed: on_reversals,
    ReferralReparented: on_reparented, CustomerErased: on_erasures,
}


def consume_analytics(runtime: ServiceRuntime, group_id: str = GROUP_ID, fetch_min_bytes: int | None = None,
                      fetch_max_wait_ms: int | None = None) -> BatchConsumer:
    """Subscribe the projection in `runtime`, in a group of its own (its claims are its own too);
    a new group starts from the topics' beginning."""
    return runtime.consume(TOPICS, HANDLERS, group_id=group_id, fetch_min_bytes=fetch_min_bytes,
                           fetch_max_wait_ms=fetch_max_wait_ms)
