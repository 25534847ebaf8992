"""share-ingest's SQL: one function per query, set-based where handlers work in batches."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_platform import outbox
from kaskade_platform.outbox import Outbox
from kaskade_platform.texts import packed
from kaskade_contracts.events import ConversionRecorded, LinkClicked, RefundRecorded, ShareRecorded


_CAMPAIGN = "campaign_id, version, status, terms, updated_at"


async def insert_campaign(conn: asyncpg.Connection, tenant_id: str, campaign_id: str,
                          terms: dict[str, Any]) -> asyncpg.Record | None:
    """A new campaign at version 1; None if the id is taken."""
    return await conn.fetchrow(
        f"""INSERT INTO campaigns (tenant_id, campaign_id, landing_url, terms) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING RETURNING {_CAMPAIGN}""", tenant_id, campaign_id, terms["landing_url"], terms)


async def update_campaign(conn: asyncpg.Connection, tenant_id: str, campaign_id: str, *,
                          terms: dict[str, Any] | None = None, status: str | None = None) -> asyncpg.Record | None:
    """The next version with new terms or status; an ended campaign stays ended."""
    return await conn.fetchrow(
        f"""UPDATE campaigns SET version = version + 1, updated_at = now(),
                   terms = coalesce($3, terms), landing_url = coalesce($3 ->> 'landing_url', landing_url),
                   status = CASE WHEN status = 'ended' THEN status ELSE coalesce($4, status) END
            WHERE tenant_id = $1 AND campaign_id = $2 RETURNING {_CAMPAIGN}""",
        tenant_id, campaign_id, terms, status)


async def campaigns(conn: asyncpg.Connection, tenant_id: str, campaign_id: str | None = None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT {_CAMPAIGN} FROM campaigns WHERE tenant_id = $1 AND ($2::text IS NULL OR campaign_id = $2)
            ORDER BY campaign_id""", tenant_id, campaign_id)


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
           SELECT * FROM unnest(unpack_texts($1), $2::uuid[], unpack_texts($3), unpack_texts($4), unpack_texts($5),
                                unpack_texts($6), $7::smallint[], unpack_texts($8), $9::timestamptz[])
           ON CONFLICT (tenant_id, share_id) DO NOTHING RETURNING tenant_id, share_id""",
        packed([e.tenant_id for e in shares]), [e.payload.share_id for e in shares],
        packed([e.payload.campaign_id for e in shares]), packed([e.payload.sharer_id for e in shares]),
        packed([e.payload.channel.value for e in shares]), packed([e.payload.message_variant for e in shares]),
        [e.payload.sentiment for e in shares], packed([e.payload.referral_code for e in shares]),
        [e.occurred_at for e in shares])
    return {(r["tenant_id"], r["share_id"]) for r in rows}


async def insert_conversions(conn: asyncpg.Connection,
                             conversions: Sequence[Envelope[ConversionRecorded]]) -> set[tuple[str, uuid.UUID]]:
    rows = await conn.fetch(
        """INSERT INTO conversions (tenant_id, conversion_id, campaign_id, customer_id, kind, order_id,
                                    amount_minor, currency, referral_code, click_id, occurred_at)
           SELECT * FROM unnest(unpack_texts($1), $2::uuid[], unpack_texts($3), unpack_texts($4), unpack_texts($5),
                                unpack_texts($6), $7::bigint[], unpack_texts($8), unpack_texts($9), $10::uuid[],
                                $11::timestamptz[])
           ON CONFLICT (tenant_id, conversion_id) DO NOTHING RETURNING tenant_id, conversion_id""",
        packed([e.tenant_id for e in conversions]), [e.payload.conversion_id for e in conversions],
        packed([e.payload.campaign_id for e in conversions]), packed([e.payload.customer_id for e in conversions]),
        packed([e.payload.kind.value for e in conversions]), packed([e.payload.order_id for e in conversions]),
        [e.payload.amount_minor for e in conversions], packed([e.payload.currency for e in conversions]),
        packed([e.payload.referral_code for e in conversions]), [e.payload.click_id for e in conversions],
        [e.occurred_at for e in conversions])
    return {(r["tenant_id"], r["conversion_id"]) for r in rows}


async def find_link(conn: asyncpg.Connection, code: str) -> asyncpg.Record | None:
    return (await find_links(conn, [code])).get(code)


async def find_links(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, asyncpg.Record]:
    """The links behind referral codes, with their campaign's landing URL and status; unknown
    codes are left out."""
    rows = await conn.fetch(
        """SELECT s.referral_code, s.tenant_id, s.campaign_id, s.sharer_id, s.channel, c.landing_url, c.status
           FROM shares s JOIN campaigns c USING (tenant_id, campaign_id) WHERE s.referral_code = ANY($1::text[])
           ORDER BY s.referral_code, s.tenant_id""", list(codes))
    found: dict[str, asyncpg.Record] = {}
    for r in rows:
        found.setdefault(r["referral_code"], r)
    return found


async def record_visits(conn: asyncpg.Connection, clicks: Sequence[Envelope[LinkClicked]], returning: Sequence[bool],
                        window_s: int) -> dict[uuid.UUID, uuid.UUID]:
    """The redirect's group commit, in one statement (so one round trip, atomic without BEGIN/COMMIT):
    stores each click with its outbox row, except a returning visitor's repeat inside the window.
    Returns {new click id: earlier click id} for the repeats."""
    rows = await conn.fetch(
        """WITH v AS (
              SELECT * FROM unnest($1::bytea[], $2::uuid[], unpack_texts($3), $4::uuid[], unpack_texts($5),
                                   unpack_texts($6), unpack_texts($7), unpack_texts($8), unpack_texts($9),
                                   $10::timestamptz[], $11::bool[])
                WITH ORDINALITY
                AS v(framed, event_id, tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent,
                     referer, occurred_at, is_returning, ord)),
            earlier AS (
              SELECT v.click_id AS new_id, last.click_id AS old_id FROM v CROSS JOIN LATERAL (
                SELECT c.click_id FROM clicks c
                WHERE v.is_returning AND c.tenant_id = v.tenant_id AND c.referral_code = v.referral_code
                  AND c.visitor_id = v.visitor_id AND c.occurred_at > v.occurred_at - make_interval(secs => $12)
                ORDER BY c.occurred_at DESC LIMIT 1) last),
            fresh AS (SELECT * FROM v WHERE v.click_id NOT IN (SELECT new_id FROM earlier)),
            stored AS (
              INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent, referer,
                                  occurred_at)
              SELECT tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent, referer, occurred_at
              FROM fresh),
            published AS (  -- one outbox bundle: the events of the clicks stored, in order
              INSERT INTO outbox_bundles (events, event_ids, event_count, ephemeral)
              SELECT string_agg(framed, ''::bytea ORDER BY ord), array_agg(event_id ORDER BY ord), count(*), false
              FROM fresh HAVING count(*) > 0)
            SELECT new_id, old_id FROM earlier""",
        [outbox.framed(e) for e in clicks], [e.event_id for e in clicks],
        packed([e.tenant_id for e in clicks]), [e.payload.click_id for e in clicks],
        packed([e.payload.referral_code for e in clicks]), packed([e.payload.visitor_id for e in clicks]),
        packed([e.payload.ip_hash for e in clicks]), packed([e.payload.user_agent for e in clicks]),
        packed([e.payload.referer for e in clicks]), [e.occurred_at for e in clicks], list(returning), float(window_s))
    return {r["new_id"]: r["old_id"] for r in rows}


async def create_tenant(conn: asyncpg.Connection, tenant_id: str, name: str) -> bool:
    """Register a tenant; False if the id is taken."""
    return bool(await conn.fetchval(
        "INSERT INTO tenants (tenant_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
        tenant_id, name))


async def tenant_exists(conn: asyncpg.Connection, tenant_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM tenants WHERE tenant_id = $1", tenant_id))


async def insert_api_key(conn: asyncpg.Connection, tenant_id: str, key_id: str, secret_hash: bytes) -> None:
    await conn.execute("INSERT INTO api_keys (key_id, tenant_id, secret_hash) VALUES ($1, $2, $3)",
                       key_id, tenant_id, secret_hash)


async def expire_api_keys(conn: asyncpg.Connection, tenant_id: str, keep: str, expires_at: datetime) -> None:
    """Rotation: every other live key of the tenant stays valid until `expires_at`."""
    await conn.execute(
        """UPDATE api_keys SET expires_at = LEAST(coalesce(expires_at, $3), $3), announced = false
           WHERE tenant_id = $1 AND key_id <> $2 AND revoked_at IS NULL""", tenant_id, keep, expires_at)


async def revoke_api_key(conn: asyncpg.Connection, tenant_id: str, key_id: str) -> bool:
    return bool(await conn.fetchval(
        """UPDATE api_keys SET revoked_at = now(), announced = false WHERE tenant_id = $1 AND key_id = $2 AND revoked_at IS NULL
           RETURNING true""", tenant_id, key_id))


async def api_keys(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT key_id, created_at, expires_at, revoked_at FROM api_keys WHERE tenant_id = $1
           ORDER BY created_at""", tenant_id)


async def api_key(conn: asyncpg.Connection, key_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT key_id, tenant_id, secret_hash, expires_at, revoked_at FROM api_keys WHERE key_id = $1", key_id)


async def announce_api_keys(conn: asyncpg.Connection, limit: int = 500) -> list[asyncpg.Record]:
    """Claims key changes not yet announced; the caller publishes them in the same transaction."""
    return await conn.fetch(
        """UPDATE api_keys SET announced = true WHERE key_id IN (
               SELECT key_id FROM api_keys WHERE NOT announced ORDER BY key_id LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING key_id, tenant_id, secret_hash, expires_at, revoked_at""", limit)


async def profiles(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]
                   ) -> dict[tuple[str, str], asyncpg.Record]:
    keys = list(keys)
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.customer_id, c.email, c.segment FROM customers c
           JOIN unnest(unpack_texts($1), unpack_texts($2)) AS k(t, id) ON c.tenant_id = k.t AND c.customer_id = k.id""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]))
    return {(r["tenant_id"], r["customer_id"]): r for r in rows}


async def known_tenants(conn: asyncpg.Connection, tenant_ids: Iterable[str]) -> set[str]:
    rows = await conn.fetch("SELECT tenant_id FROM tenants WHERE tenant_id = ANY($1::text[])", list(set(tenant_ids)))
    return {r["tenant_id"] for r in rows}


async def links(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], asyncpg.Record]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT s.tenant_id, s.referral_code, s.campaign_id, s.sharer_id, c.status FROM shares s
           JOIN campaigns c USING (tenant_id, campaign_id)
           JOIN unnest(unpack_texts($1), unpack_texts($2)) AS k(t, code)
             ON s.tenant_id = k.t AND s.referral_code = k.code""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]))
    return {(r["tenant_id"], r["referral_code"]): r for r in rows}


async def insert_clicks(conn: asyncpg.Connection, clicks: Sequence[Envelope[LinkClicked]]) -> set[tuple[str, uuid.UUID]]:
    rows = await conn.fetch(
        """INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent, referer, occurred_at)
           SELECT * FROM unnest(unpack_texts($1), $2::uuid[], unpack_texts($3), unpack_texts($4), unpack_texts($5),
                                unpack_texts($6), unpack_texts($7), $8::timestamptz[])
           ON CONFLICT DO NOTHING RETURNING tenant_id, click_id""",
        packed([e.tenant_id for e in clicks]), [e.payload.click_id for e in clicks],
        packed([e.payload.referral_code for e in clicks]), packed([e.payload.visitor_id for e in clicks]),
        packed([e.payload.ip_hash for e in clicks]), packed([e.payload.user_agent for e in clicks]),
        packed([e.payload.referer for e in clicks]), [e.occurred_at for e in clicks])
    return {(r["tenant_id"], r["click_id"]) for r in rows}


async def shares_by_id(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                       ) -> dict[tuple[str, uuid.UUID], asyncpg.Record]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT s.* FROM shares s JOIN unnest($1::text[], $2::uuid[]) AS k(t, id)
           ON s.tenant_id = k.t AND s.share_id = k.id""", [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["share_id"]): r for r in rows}


async def conversions_for_refund(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                                 ) -> dict[tuple[str, uuid.UUID], asyncpg.Record]:
    """Conversions with what is refunded so far. The rows are locked first and the sums read
    after, so a concurrent refund of the same conversion is either waited for or seen."""
    keys = list(keys)
    args = ([k[0] for k in keys], [k[1] for k in keys])
    await conn.execute(
        """SELECT 1 FROM conversions c JOIN unnest($1::text[], $2::uuid[]) AS k(t, id)
             ON c.tenant_id = k.t AND c.conversion_id = k.id
           ORDER BY c.tenant_id, c.conversion_id FOR UPDATE OF c""", *args)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.conversion_id, c.campaign_id, c.customer_id, c.amount_minor, c.currency,
                  (SELECT coalesce(sum(r.amount_minor), 0)::bigint FROM refunds r
                   WHERE r.tenant_id = c.tenant_id AND r.conversion_id = c.conversion_id) AS refunded
           FROM conversions c JOIN unnest($1::text[], $2::uuid[]) AS k(t, id)
             ON c.tenant_id = k.t AND c.conversion_id = k.id""", *args)
    return {(r["tenant_id"], r["conversion_id"]): r for r in rows}


async def existing_refunds(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                           ) -> dict[tuple[str, uuid.UUID], asyncpg.Record]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT r.tenant_id, r.refund_id, r.conversion_id FROM refunds r JOIN unnest($1::text[], $2::uuid[]) AS k(t, id)
           ON r.tenant_id = k.t AND r.refund_id = k.id""", [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["refund_id"]): r for r in rows}


async def insert_refunds(conn: asyncpg.Connection, refunds: Sequence[Envelope[RefundRecorded]]) -> None:
    await conn.execute(
        """INSERT INTO refunds (tenant_id, refund_id, conversion_id, kind, amount_minor, occurred_at)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::timestamptz[])
           ON CONFLICT DO NOTHING""",
        [e.tenant_id for e in refunds], [e.payload.refund_id for e in refunds],
        [e.payload.conversion_id for e in refunds], [e.payload.kind.value for e in refunds],
        [e.payload.amount_minor for e in refunds], [e.occurred_at for e in refunds])


async def conversion(conn: asyncpg.Connection, tenant_id: str, conversion_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("""SELECT c.*, (SELECT coalesce(sum(amount_minor), 0)::bigint FROM refunds r
                                              WHERE r.tenant_id = c.tenant_id AND r.conversion_id = c.conversion_id)
                                             AS refunded_minor
                                  FROM conversions c WHERE tenant_id = $1 AND conversion_id = $2""",
                               tenant_id, conversion_id)


async def upsert_customer(conn: asyncpg.Connection, tenant_id: str, profile: dict[str, Any]) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO customers (tenant_id, customer_id, email, locale, marketing_consent, segment)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET email = excluded.email, locale = excluded.locale,
             marketing_consent = excluded.marketing_consent, segment = excluded.segment, updated_at = now()
           RETURNING customer_id, email, locale, marketing_consent, segment, updated_at""",
        tenant_id, profile["customer_id"], profile["email"], profile["locale"], profile["marketing_consent"],
        profile["segment"])


async def customer(conn: asyncpg.Connection, tenant_id: str, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT customer_id, email, locale, marketing_consent, segment, updated_at FROM customers
           WHERE tenant_id = $1 AND customer_id = $2""", tenant_id, customer_id)


async def erase_customer(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> bool:
    """Delete the profile, put the replacement id in place of the customer's, and drop published
    outbox copies of their contact data. True if there was anything of theirs."""
    deleted = await conn.fetchval(
        "DELETE FROM customers WHERE tenant_id = $1 AND customer_id = $2 RETURNING true", tenant_id, customer_id)
    shares = await conn.execute("UPDATE shares SET sharer_id = $3 WHERE tenant_id = $1 AND sharer_id = $2",
                                tenant_id, customer_id, replacement_id)
    convs = await conn.execute("UPDATE conversions SET customer_id = $3 WHERE tenant_id = $1 AND customer_id = $2",
                               tenant_id, customer_id, replacement_id)
    await Outbox.forget(conn, tenant_id, customer_id)
    return bool(deleted) or shares != "UPDATE 0" or convs != "UPDATE 0"
