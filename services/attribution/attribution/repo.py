"""attribution's SQL; every function takes a whole batch."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import orjson

from attribution.domain import Binding, Link
from kaskade_platform.dedupe import latest_by
from kaskade_contracts.envelope import Envelope, encode_envelope
from kaskade_contracts.events import CampaignDefined, ConversionRecorded, LinkClicked, ShareRecorded


async def insert_links(conn: asyncpg.Connection, shares: Sequence[Envelope[ShareRecorded]]) -> None:
    await conn.execute(
        """INSERT INTO referral_links (tenant_id, referral_code, campaign_id, sharer_id, share_id, channel)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[])
           ON CONFLICT DO NOTHING""",
        [e.tenant_id for e in shares], [e.payload.referral_code for e in shares],
        [e.payload.campaign_id for e in shares], [e.payload.sharer_id for e in shares],
        [e.payload.share_id for e in shares], [e.payload.channel.value for e in shares])


async def insert_clicks(conn: asyncpg.Connection, clicks: Sequence[Envelope[LinkClicked]]) -> None:
    await conn.execute(
        """INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, clicked_at)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::timestamptz[])
           ON CONFLICT DO NOTHING""",
        [e.tenant_id for e in clicks], [e.payload.click_id for e in clicks], [e.payload.referral_code for e in clicks],
        [e.payload.visitor_id for e in clicks], [e.payload.ip_hash for e in clicks], [e.occurred_at for e in clicks])


async def clicks_by_id(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                       ) -> dict[tuple[str, uuid.UUID], tuple[str, datetime]]:
    """(referral code, clicked at) of each known click."""
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.click_id, c.referral_code, c.clicked_at FROM clicks c
           JOIN unnest($1::text[], $2::uuid[]) AS k(t, id) ON c.tenant_id = k.t AND c.click_id = k.id""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["click_id"]): (r["referral_code"], r["clicked_at"]) for r in rows}


async def upsert_campaigns(conn: asyncpg.Connection, facts: Sequence[Envelope[CampaignDefined]]) -> None:
    """Keep the newest version of each campaign's attribution terms."""
    facts = latest_by(facts, lambda e: (e.tenant_id, e.payload.campaign_id), lambda e: e.payload.version)
    await conn.execute(
        """INSERT INTO campaigns (tenant_id, campaign_id, version, status, window_days, model)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[])
           ON CONFLICT (tenant_id, campaign_id) DO UPDATE
             SET version = excluded.version, status = excluded.status, window_days = excluded.window_days,
                 model = excluded.model
             WHERE campaigns.version < excluded.version""",
        [e.tenant_id for e in facts], [e.payload.campaign_id for e in facts], [e.payload.version for e in facts],
        [e.payload.status.value for e in facts], [e.payload.terms.attribution_window_days for e in facts],
        [e.payload.terms.attribution_model.value for e in facts])


async def windows_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.campaign_id, c.window_days FROM campaigns c
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON c.tenant_id = k.t AND c.campaign_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["campaign_id"]): r["window_days"] for r in rows}


async def links_for_codes(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Link]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT l.tenant_id, l.referral_code, l.campaign_id, l.sharer_id FROM referral_links l
           JOIN unnest($1::text[], $2::text[]) AS k(t, code) ON l.tenant_id = k.t AND l.referral_code = k.code""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["referral_code"]): Link(r["campaign_id"], r["sharer_id"]) for r in rows}


async def bindings_for(conn: asyncpg.Connection,
                       keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Binding]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT b.* FROM bindings b
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON b.tenant_id = k.t AND b.referee_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["referee_id"]): Binding(
        r["referee_id"], r["referrer_id"], r["root_seeder_id"], r["generation"], r["conversion_id"],
        r["parent_conversion_id"], tuple(r["upline"]), r["campaign_id"]) for r in rows}


async def insert_bindings(conn: asyncpg.Connection, rows: Sequence[tuple[str, Binding, datetime]]) -> None:
    await conn.executemany(
        """INSERT INTO bindings (tenant_id, referee_id, referrer_id, root_seeder_id, generation, conversion_id,
                                 parent_conversion_id, upline, campaign_id, bound_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING""",
        [(t, b.referee_id, b.referrer_id, b.root_seeder_id, b.generation, b.conversion_id, b.parent_conversion_id,
          list(b.upline), b.campaign_id, at) for t, b, at in rows])


async def insert_outcomes(conn: asyncpg.Connection,
                          rows: Sequence[tuple[str, uuid.UUID, str, str, str, str | None, int | None, str | None]]
                          ) -> set[tuple[str, uuid.UUID]]:
    """Record each conversion's outcome once; returns the conversions that had none yet."""
    cols = list(zip(*rows)) if rows else [[] for _ in range(8)]
    recorded = await conn.fetch(
        """INSERT INTO conversion_outcomes (tenant_id, conversion_id, campaign_id, customer_id, outcome,
                                           referrer_id, generation, reason)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::int[], $8::text[])
           ON CONFLICT DO NOTHING RETURNING tenant_id, conversion_id""", *[list(c) for c in cols])
    return {(r["tenant_id"], r["conversion_id"]) for r in recorded}


async def hold(conn: asyncpg.Connection, rows: Sequence[tuple[Envelope[ConversionRecorded], datetime]]) -> None:
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO held_conversions (tenant_id, conversion_id, referral_code, click_id, envelope, held_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        [(e.tenant_id, e.payload.conversion_id, e.payload.referral_code, e.payload.click_id, encode_envelope(e), at)
         for e, at in rows])


async def take_held(conn: asyncpg.Connection, codes: Iterable[tuple[str, str]],
                    clicks: Iterable[tuple[str, uuid.UUID]]) -> list[bytes]:
    """Remove and return held conversions waiting for any of these codes or clicks."""
    codes, clicks = list(codes), list(clicks)
    rows = await conn.fetch(
        """DELETE FROM held_conversions h
           USING (SELECT h2.tenant_id, h2.conversion_id FROM held_conversions h2
                  JOIN unnest($1::text[], $2::text[]) AS k(t, code) ON h2.tenant_id = k.t AND h2.referral_code = k.code
                  UNION
                  SELECT h3.tenant_id, h3.conversion_id FROM held_conversions h3
                  JOIN unnest($3::text[], $4::uuid[]) AS k(t, id) ON h3.tenant_id = k.t AND h3.click_id = k.id) m
           WHERE h.tenant_id = m.tenant_id AND h.conversion_id = m.conversion_id
           RETURNING h.envelope, h.held_at""",
        [k[0] for k in codes], [k[1] for k in codes], [k[0] for k in clicks], [k[1] for k in clicks])
    return [r["envelope"] for r in sorted(rows, key=lambda r: r["held_at"])]


async def take_stale(conn: asyncpg.Connection, held_before: datetime,
                     limit: int = 1000) -> list[tuple[bytes, datetime]]:
    """Remove and return conversions held since before `held_before`, oldest first."""
    rows = await conn.fetch(
        """DELETE FROM held_conversions WHERE (tenant_id, conversion_id) IN (
               SELECT tenant_id, conversion_id FROM held_conversions WHERE held_at < $1
               ORDER BY held_at LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING envelope, held_at""", held_before, limit)
    return sorted(((r["envelope"], r["held_at"]) for r in rows), key=lambda r: r[1])


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> None:
    """Put the replacement id wherever the customer's id stands; the cascade keeps its shape."""
    args = (tenant_id, customer_id, replacement_id)
    await conn.execute("UPDATE referral_links SET sharer_id = $3 WHERE tenant_id = $1 AND sharer_id = $2", *args)
    await conn.execute(
        """UPDATE bindings SET
             referee_id = CASE WHEN referee_id = $2 THEN $3 ELSE referee_id END,
             referrer_id = CASE WHEN referrer_id = $2 THEN $3 ELSE referrer_id END,
             root_seeder_id = CASE WHEN root_seeder_id = $2 THEN $3 ELSE root_seeder_id END,
             upline = array_replace(upline, $2, $3)
           WHERE tenant_id = $1 AND ($2 IN (referee_id, referrer_id, root_seeder_id) OR $2 = ANY (upline))""", *args)
    await conn.execute(
        """UPDATE conversion_outcomes SET
             customer_id = CASE WHEN customer_id = $2 THEN $3 ELSE customer_id END,
             referrer_id = CASE WHEN referrer_id = $2 THEN $3 ELSE referrer_id END
           WHERE tenant_id = $1 AND $2 IN (customer_id, referrer_id)""", *args)
    # A conversion still waiting for its link is dropped: its customer is gone.
    await conn.execute("DELETE FROM held_conversions WHERE tenant_id = $1 AND position($2 IN envelope) > 0",
                       tenant_id, orjson.dumps(customer_id))
