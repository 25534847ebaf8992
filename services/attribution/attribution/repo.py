"""attribution's SQL; every function takes a whole batch."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import orjson

from attribution.domain import Link, Terms
from attribution.fraud import Click
from kaskade_platform.dedupe import latest_by
from kaskade_platform.texts import packed
from kaskade_contracts.envelope import Envelope, encode_envelope
from kaskade_contracts.events import (AttributionModel, CampaignDefined, ConversionRecorded, FraudRules, LinkClicked,
                                      ShareRecorded)

CLICK_COLUMNS = "c.tenant_id, c.click_id, c.referral_code, c.visitor_id, c.ip_hash, c.clicked_at, c.campaign_id"


async def insert_links(conn: asyncpg.Connection, shares: Sequence[Envelope[ShareRecorded]]) -> None:
    await conn.execute(
        """INSERT INTO referral_links (tenant_id, referral_code, campaign_id, sharer_id, share_id, channel,
                                      sharer_email_hash)
           SELECT * FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), unpack_texts($4), $5::uuid[],
                                unpack_texts($6), unpack_texts($7))
           ON CONFLICT DO NOTHING""",
        packed([e.tenant_id for e in shares]), packed([e.payload.referral_code for e in shares]),
        packed([e.payload.campaign_id for e in shares]), packed([e.payload.sharer_id for e in shares]),
        [e.payload.share_id for e in shares], packed([e.payload.channel.value for e in shares]),
        packed([e.payload.sharer_email_hash for e in shares]))


async def insert_clicks(conn: asyncpg.Connection, clicks: Sequence[Envelope[LinkClicked]]) -> None:
    await conn.execute(
        """INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, clicked_at, campaign_id)
           SELECT * FROM unnest(unpack_texts($1), $2::uuid[], unpack_texts($3), unpack_texts($4), unpack_texts($5),
                                $6::timestamptz[], unpack_texts($7))
           ON CONFLICT DO NOTHING""",
        packed([e.tenant_id for e in clicks]), [e.payload.click_id for e in clicks],
        packed([e.payload.referral_code for e in clicks]), packed([e.payload.visitor_id for e in clicks]),
        packed([e.payload.ip_hash for e in clicks]), [e.occurred_at for e in clicks],
        packed([e.payload.campaign_id for e in clicks]))


def click_of(r: asyncpg.Record) -> Click:
    return Click(r["click_id"], r["referral_code"], r["visitor_id"], r["ip_hash"], r["clicked_at"], r["campaign_id"])


async def clicks_by_id(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                       ) -> dict[tuple[str, uuid.UUID], Click]:
    keys = list(keys)
    rows = await conn.fetch(
        f"""SELECT {CLICK_COLUMNS} FROM clicks c
            JOIN unnest(unpack_texts($1), $2::uuid[]) AS k(t, id) ON c.tenant_id = k.t AND c.click_id = k.id""",
        packed([k[0] for k in keys]), [k[1] for k in keys])
    return {(r["tenant_id"], r["click_id"]): click_of(r) for r in rows}


async def upsert_campaigns(conn: asyncpg.Connection, facts: Sequence[Envelope[CampaignDefined]]) -> None:
    """Keep the newest version of each campaign's attribution terms."""
    facts = latest_by(facts, lambda e: (e.tenant_id, e.payload.campaign_id), lambda e: e.payload.version)
    await conn.execute(
        """INSERT INTO campaigns (tenant_id, campaign_id, version, status, window_days, model, fraud)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::int[], $6::text[], $7::jsonb[])
           ON CONFLICT (tenant_id, campaign_id) DO UPDATE
             SET version = excluded.version, status = excluded.status, window_days = excluded.window_days,
                 model = excluded.model, fraud = excluded.fraud
             WHERE campaigns.version < excluded.version""",
        [e.tenant_id for e in facts], [e.payload.campaign_id for e in facts], [e.payload.version for e in facts],
        [e.payload.status.value for e in facts], [e.payload.terms.attribution_window_days for e in facts],
        [e.payload.terms.attribution_model.value for e in facts],
        [e.payload.terms.fraud.model_dump(mode="json") for e in facts])


async def terms_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Terms]:
    """Each known campaign's attribution terms; a campaign not (yet) defined gets the defaults."""
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.campaign_id, c.window_days, c.model, c.fraud FROM campaigns c
           JOIN unnest(unpack_texts($1), unpack_texts($2)) AS k(t, c) ON c.tenant_id = k.t AND c.campaign_id = k.c""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]))
    return {(r["tenant_id"], r["campaign_id"]): Terms(
        r["window_days"], AttributionModel(r["model"]),
        FraudRules.model_validate(r["fraud"]) if r["fraud"] else FraudRules()) for r in rows}


async def links_for_codes(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Link]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT l.tenant_id, l.referral_code, l.campaign_id, l.sharer_id, l.sharer_email_hash FROM referral_links l
           JOIN unnest(unpack_texts($1), unpack_texts($2)) AS k(t, code)
             ON l.tenant_id = k.t AND l.referral_code = k.code""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]))
    return {(r["tenant_id"], r["referral_code"]): Link(r["campaign_id"], r["sharer_id"], r["sharer_email_hash"])
            for r in rows}


async def hold(conn: asyncpg.Connection,
               rows: Sequence[tuple[Envelope[ConversionRecorded], datetime, str | None]]) -> None:
    """Hold conversions until their link is known; the third item is the code of their click,
    when the click is known and only its share is missing."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO held_conversions (tenant_id, conversion_id, referral_code, click_id, envelope, held_at,
                                         click_code, customer_id)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::bytea[], $6::timestamptz[],
                                $7::text[], $8::text[])
           ON CONFLICT DO NOTHING""",
        [e.tenant_id for e, _, _ in rows], [e.payload.conversion_id for e, _, _ in rows],
        [e.payload.referral_code for e, _, _ in rows], [e.payload.click_id for e, _, _ in rows],
        [encode_envelope(e) for e, _, _ in rows], [at for _, at, _ in rows], [code for _, _, code in rows],
        [e.payload.customer_id for e, _, _ in rows])


async def take_held(conn: asyncpg.Connection, *, codes: Iterable[tuple[str, str]] = (),
                    clicks: Iterable[tuple[str, uuid.UUID]] = (),
                    customers: Iterable[tuple[str, str]] = ()) -> list[tuple[bytes, datetime]]:
    """Remove and return held conversions waiting for any of these codes or clicks, or queued
    behind a conversion of any of these customers; with the time each was first held."""
    codes, clicks, customers = list(codes), list(clicks), list(customers)
    rows = await conn.fetch(
        """DELETE FROM held_conversions h
           USING (SELECT h2.tenant_id, h2.conversion_id FROM held_conversions h2
                  JOIN unnest($1::text[], $2::text[]) AS k(t, code) ON h2.tenant_id = k.t AND h2.referral_code = k.code
                  UNION
                  SELECT h4.tenant_id, h4.conversion_id FROM held_conversions h4
                  JOIN unnest($1::text[], $2::text[]) AS k(t, code) ON h4.tenant_id = k.t AND h4.click_code = k.code
                  UNION
                  SELECT h3.tenant_id, h3.conversion_id FROM held_conversions h3
                  JOIN unnest($3::text[], $4::uuid[]) AS k(t, id) ON h3.tenant_id = k.t AND h3.click_id = k.id
                  UNION
                  SELECT h5.tenant_id, h5.conversion_id FROM held_conversions h5
                  JOIN unnest($5::text[], $6::text[]) AS k(t, c) ON h5.tenant_id = k.t AND h5.customer_id = k.c) m
           WHERE h.tenant_id = m.tenant_id AND h.conversion_id = m.conversion_id
           RETURNING h.envelope, h.held_at""",
        [k[0] for k in codes], [k[1] for k in codes], [k[0] for k in clicks], [k[1] for k in clicks],
        [k[0] for k in customers], [k[1] for k in customers])
    return sorted(((r["envelope"], r["held_at"]) for r in rows), key=lambda r: r[1])


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
        """UPDATE rejections SET
             referee_id = CASE WHEN referee_id = $2 THEN $3 ELSE referee_id END,
             referrer_id = CASE WHEN referrer_id = $2 THEN $3 ELSE referrer_id END
           WHERE tenant_id = $1 AND $2 IN (referee_id, referrer_id)""", *args)
    await conn.execute("UPDATE customer_devices SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2", *args)
    await conn.execute(
        """UPDATE conversion_outcomes SET
             customer_id = CASE WHEN customer_id = $2 THEN $3 ELSE customer_id END,
             referrer_id = CASE WHEN referrer_id = $2 THEN $3 ELSE referrer_id END
           WHERE tenant_id = $1 AND $2 IN (customer_id, referrer_id)""", *args)
    # A conversion still waiting for its link is dropped: its customer is gone.
    for table in ("held_conversions", "held_refunds"):
        await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND position($2 IN envelope) > 0",
                           tenant_id, orjson.dumps(customer_id))
