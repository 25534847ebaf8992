"""The analytics read models' writes: one set-based statement per table per batch.

Rows are written in key order, so two instances upserting overlapping rows lock them in the same
order instead of deadlocking.
"""
from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg

from attribution.analytics_facts import CustomerFact, CustomerKey, LinkFact, LinkKey
from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import ConversionRecorded, LinkClicked
from kaskade_platform.dedupe import first_of_each_new
from kaskade_platform.texts import packed


async def upsert_links(conn: asyncpg.Connection, links: dict[LinkKey, LinkFact]) -> None:
    keys = sorted(links)
    rows = [links[k] for k in keys]
    await conn.execute(
        """INSERT INTO analytics_links AS l (tenant_id, referral_code, campaign_id, sharer_id, shared, shared_on,
                                             channel, message_variant, sharer_segment, sentiment, clicks)
           SELECT * FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), unpack_texts($4), $5::smallint[],
                                $6::date[], unpack_texts($7), unpack_texts($8), unpack_texts($9), $10::smallint[],
                                $11::int[])
           ON CONFLICT (tenant_id, referral_code) DO UPDATE SET
             shared = greatest(l.shared, excluded.shared),
             shared_on = coalesce(l.shared_on, excluded.shared_on),
             channel = coalesce(l.channel, excluded.channel),
             message_variant = coalesce(l.message_variant, excluded.message_variant),
             sharer_segment = coalesce(l.sharer_segment, excluded.sharer_segment),
             sentiment = coalesce(l.sentiment, excluded.sentiment),
             clicks = l.clicks + excluded.clicks""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]), packed([r.campaign_id for r in rows]),
        packed([r.sharer_id for r in rows]), [r.shared for r in rows], [r.shared_on for r in rows],
        packed([r.channel for r in rows]), packed([r.message_variant for r in rows]),
        packed([r.sharer_segment for r in rows]), [r.sentiment for r in rows], [r.clicks for r in rows])


async def insert_clicks(conn: asyncpg.Connection,
                        clicks: Sequence[Envelope[LinkClicked]]) -> list[tuple[str, str, str, str]]:
    """Remember which link each click followed; returns (tenant, code, campaign, sharer) of the
    clicks not seen before, the only ones to count."""
    new = await conn.fetch(
        """INSERT INTO analytics_clicks (tenant_id, click_id, referral_code)
           SELECT * FROM unnest(unpack_texts($1), $2::uuid[], unpack_texts($3))
           ON CONFLICT DO NOTHING RETURNING tenant_id, click_id""",
        packed([e.tenant_id for e in clicks]), [e.payload.click_id for e in clicks],
        packed([e.payload.referral_code for e in clicks]))
    fresh = first_of_each_new(clicks, lambda e: (e.tenant_id, e.payload.click_id),
                              {(r["tenant_id"], r["click_id"]) for r in new})
    return [(e.tenant_id, e.payload.referral_code, e.payload.campaign_id, e.payload.sharer_id) for e in fresh]


async def insert_conversions(conn: asyncpg.Connection, convs: Sequence[Envelope[ConversionRecorded]]) -> None:
    """Keep when and through what each conversion with a code or click happened."""
    linked = [e for e in convs if e.payload.referral_code or e.payload.click_id]
    await conn.execute(
        """INSERT INTO analytics_conversions (tenant_id, conversion_id, converted_at, referral_code, click_id)
           SELECT * FROM unnest(unpack_texts($1), $2::uuid[], $3::timestamptz[], unpack_texts($4), $5::uuid[])
           ON CONFLICT DO NOTHING""",
        packed([e.tenant_id for e in linked]), [e.payload.conversion_id for e in linked],
        [e.occurred_at for e in linked], packed([e.payload.referral_code for e in linked]),
        [e.payload.click_id for e in linked])


async def upsert_customers(conn: asyncpg.Connection, facts: dict[CustomerKey, CustomerFact]) -> None:
    """Merge by the rules of CustomerFact.merge."""
    keys = sorted(facts)
    rows = [facts[k] for k in keys]
    await conn.execute(
        """INSERT INTO analytics_customers AS c (tenant_id, campaign_id, customer_id, generation, referrer_id,
                                                 bound_by, bound_path, signed_up, purchased, segment, segment_at,
                                                 first_converted_at, first_shared_at, purchases, refunded_purchases)
           SELECT * FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), $4::int[], unpack_texts($5),
                                $6::uuid[], unpack_texts($7), $8::bool[], $9::bool[], unpack_texts($10),
                                $11::timestamptz[], $12::timestamptz[], $13::timestamptz[], $14::int[], $15::int[])
           ON CONFLICT (tenant_id, campaign_id, customer_id) DO UPDATE SET
             generation = least(c.generation, excluded.generation),
             referrer_id = coalesce(c.referrer_id, excluded.referrer_id),
             bound_by = coalesce(c.bound_by, excluded.bound_by),
             bound_path = CASE WHEN c.bound_by IS NULL THEN excluded.bound_path ELSE c.bound_path END,
             signed_up = c.signed_up OR excluded.signed_up,
             purchases = c.purchases + excluded.purchases,
             refunded_purchases = c.refunded_purchases + excluded.refunded_purchases,
             purchased = c.purchases + excluded.purchases > c.refunded_purchases + excluded.refunded_purchases,
             segment = CASE WHEN excluded.segment IS NOT NULL
                             AND (c.segment_at IS NULL OR excluded.segment_at < c.segment_at)
                            THEN excluded.segment ELSE c.segment END,
             segment_at = CASE WHEN excluded.segment IS NOT NULL
                                AND (c.segment_at IS NULL OR excluded.segment_at < c.segment_at)
                               THEN excluded.segment_at ELSE c.segment_at END,
             first_converted_at = least(c.first_converted_at, excluded.first_converted_at),
             first_shared_at = least(c.first_shared_at, excluded.first_shared_at)
           -- Most facts change nothing (every verdict restates the referrer's generation; a repeat
           -- purchase is not a first conversion): such rows are left as they are, not rewritten.
           WHERE least(c.generation, excluded.generation) IS DISTINCT FROM c.generation
              OR (c.referrer_id IS NULL AND excluded.referrer_id IS NOT NULL)
              OR (c.bound_by IS NULL AND excluded.bound_by IS NOT NULL)
              OR (excluded.signed_up AND NOT c.signed_up)
              OR excluded.purchases <> 0 OR excluded.refunded_purchases <> 0
              OR (excluded.segment IS NOT NULL AND (c.segment_at IS NULL OR excluded.segment_at < c.segment_at))
              OR least(c.first_converted_at, excluded.first_converted_at) IS DISTINCT FROM c.first_converted_at
              OR least(c.first_shared_at, excluded.first_shared_at) IS DISTINCT FROM c.first_shared_at""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]), packed([k[2] for k in keys]),
        [r.generation for r in rows], packed([r.referrer_id for r in rows]), [r.bound_by for r in rows],
        packed([r.bound_path for r in rows]), [r.signed_up for r in rows], [r.purchased for r in rows],
        packed([r.segment for r in rows]),
        [r.segment_at for r in rows], [r.first_converted_at for r in rows], [r.first_shared_at for r in rows],
        [r.purchases for r in rows], [r.refunded_purchases for r in rows])


async def place_customers(conn: asyncpg.Connection, places: dict[CustomerKey, int]) -> None:
    """A re-parented customer's generation, replacing what earlier verdicts implied (the cascade
    moved them deeper, so `least` would keep the stale value)."""
    keys = sorted(places)
    await conn.execute(
        """INSERT INTO analytics_customers AS c (tenant_id, campaign_id, customer_id, generation)
           SELECT * FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), $4::int[])
           ON CONFLICT (tenant_id, campaign_id, customer_id) DO UPDATE SET generation = excluded.generation""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]), packed([k[2] for k in keys]),
        [places[k] for k in keys])


async def first_full_refunds(conn: asyncpg.Connection,
                             reversals: Sequence[tuple[str, uuid.UUID, str, str]]) -> list[tuple[str, str, str]]:
    """(tenant, campaign, referee) of the conversions in `reversals` (tenant, conversion, campaign,
    referee) not counted as refunded in full before."""
    rows = await conn.fetch(
        """INSERT INTO analytics_refunds (tenant_id, conversion_id)
           SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING RETURNING tenant_id, conversion_id""",
        [r[0] for r in reversals], [r[1] for r in reversals])
    fresh = {(r["tenant_id"], r["conversion_id"]) for r in rows}
    return [(t, campaign, referee) for t, conv, campaign, referee in dict.fromkeys(reversals) if (t, conv) in fresh]


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> None:
    """Put the replacement id wherever the customer's id stands; the figures keep their shape."""
    args = (tenant_id, customer_id, replacement_id)
    await conn.execute("UPDATE analytics_links SET sharer_id = $3 WHERE tenant_id = $1 AND sharer_id = $2", *args)
    await conn.execute("UPDATE analytics_customers SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2",
                       *args)
    await conn.execute("UPDATE analytics_customers SET referrer_id = $3 WHERE tenant_id = $1 AND referrer_id = $2",
                       *args)
