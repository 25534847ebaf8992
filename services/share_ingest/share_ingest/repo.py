"""share-ingest's SQL: one function per query, set-based where handlers work in batches."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import ConversionRecorded, LinkClicked, ShareRecorded


async def ensure_default_campaigns(conn: asyncpg.Connection, tenant_ids: Sequence[str], landing_url: str) -> None:
    await conn.execute(
        """INSERT INTO campaigns (tenant_id, campaign_id, landing_url)
           SELECT t, 'default', $2 FROM unnest($1::text[]) AS t ON CONFLICT DO NOTHING""",
        sorted(set(tenant_ids)), landing_url)


async def campaign_statuses(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.campaign_id, c.status FROM campaigns c
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON c.tenant_id = k.t AND c.campaign_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["campaign_id"]): r["status"] for r in rows}


async def insert_shares(conn: asyncpg.Connection,
                        shares: Sequence[Envelope[ShareRecorded]]) -> set[tuple[str, uuid.UUID]]:
    """Insert shares; returns the share ids that were new (replays return nothing)."""
    rows = await conn.fetch(
        """INSERT INTO shares (tenant_id, share_id, campaign_id, sharer_id, channel, message_variant, sentiment,
                               referral_code, occurred_at)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::smallint[], $8::text[], $9::timestamptz[])
           ON CONFLICT (tenant_id, share_id) DO NOTHING RETURNING tenant_id, share_id""",
        [e.tenant_id for e in shares], [e.payload.share_id for e in shares],
        [e.payload.campaign_id for e in shares], [e.payload.sharer_id for e in shares],
        [e.payload.channel.value for e in shares], [e.payload.message_variant for e in shares],
        [e.payload.sentiment for e in shares], [e.payload.referral_code for e in shares],
        [e.occurred_at for e in shares])
    return {(r["tenant_id"], r["share_id"]) for r in rows}


async def insert_conversions(conn: asyncpg.Connection,
                             conversions: Sequence[Envelope[ConversionRecorded]]) -> set[tuple[str, uuid.UUID]]:
    rows = await conn.fetch(
        """INSERT INTO conversions (tenant_id, conversion_id, campaign_id, customer_id, kind, order_id,
                                    amount_minor, currency, referral_code, click_id, occurred_at)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::bigint[], $8::text[], $9::text[], $10::uuid[], $11::timestamptz[])
           ON CONFLICT (tenant_id, conversion_id) DO NOTHING RETURNING tenant_id, conversion_id""",
        [e.tenant_id for e in conversions], [e.payload.conversion_id for e in conversions],
        [e.payload.campaign_id for e in conversions], [e.payload.customer_id for e in conversions],
        [e.payload.kind.value for e in conversions], [e.payload.order_id for e in conversions],
        [e.payload.amount_minor for e in conversions], [e.payload.currency for e in conversions],
        [e.payload.referral_code for e in conversions], [e.payload.click_id for e in conversions],
        [e.occurred_at for e in conversions])
    return {(r["tenant_id"], r["conversion_id"]) for r in rows}


async def find_link(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT s.tenant_id, s.campaign_id, s.sharer_id, s.channel, c.landing_url, c.status
           FROM shares s JOIN campaigns c USING (tenant_id, campaign_id) WHERE s.referral_code = $1""", code)


async def last_click(conn: asyncpg.Connection, tenant_id: str, code: str, visitor_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT click_id, occurred_at FROM clicks WHERE tenant_id = $1 AND referral_code = $2 AND visitor_id = $3
           ORDER BY occurred_at DESC LIMIT 1""", tenant_id, code, visitor_id)


async def insert_click(conn: asyncpg.Connection, tenant_id: str, click: LinkClicked, occurred_at: datetime) -> None:
    await conn.execute(
        """INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent, referer, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        tenant_id, click.click_id, click.referral_code, click.visitor_id, click.ip_hash, click.user_agent,
        click.referer, occurred_at)


async def share_code(conn: asyncpg.Connection, tenant_id: str, share_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT referral_code, campaign_id, sharer_id FROM shares WHERE tenant_id = $1 AND share_id = $2",
        tenant_id, share_id)
