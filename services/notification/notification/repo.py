"""notification's SQL."""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import asyncpg
import orjson

from kaskade_platform.dedupe import latest_by
from kaskade_platform.texts import packed
from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import CampaignDefined, CustomerProfileUpdated
from notification.domain import Notification


async def record(conn: asyncpg.Connection, notes: Sequence[Notification]) -> int:
    """Insert notifications (pending when they are to be emailed; a feed-only one has its email
    suppressed from the start); returns how many were new."""
    if not notes:
        return 0
    rows = await conn.fetch(
        """INSERT INTO notifications (notification_id, tenant_id, recipient_id, channel, template,
                                      source_event_id, reward_id, context, status)
           SELECT *, CASE WHEN c = 'email' THEN 'pending' ELSE 'suppressed' END
           FROM unnest($1::uuid[], unpack_texts($2), unpack_texts($3), unpack_texts($4), unpack_texts($5),
                       $6::uuid[], $7::uuid[], unpack_texts($8)::jsonb[]) AS x(n, t, r, c, tp, e, rw, ctx)
           ON CONFLICT DO NOTHING RETURNING notification_id""",
        [n.notification_id for n in notes], packed([n.tenant_id for n in notes]),
        packed([n.recipient_id for n in notes]), packed([n.channel for n in notes]),
        packed([n.template for n in notes]), [n.source_event_id for n in notes], [n.reward_id for n in notes],
        packed([orjson.dumps(n.context).decode() for n in notes]))
    return len(rows)


async def upsert_campaigns(conn: asyncpg.Connection, facts: Sequence[Envelope[CampaignDefined]]) -> None:
    facts = latest_by(facts, lambda e: (e.tenant_id, e.payload.campaign_id), lambda e: e.payload.version)
    await conn.execute(
        """INSERT INTO campaigns (tenant_id, campaign_id, version, notify_by_email, default_locale)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::bool[], $5::text[])
           ON CONFLICT (tenant_id, campaign_id) DO UPDATE
             SET version = excluded.version, notify_by_email = excluded.notify_by_email,
                 default_locale = excluded.default_locale
             WHERE campaigns.version < excluded.version""",
        [e.tenant_id for e in facts], [e.payload.campaign_id for e in facts], [e.payload.version for e in facts],
        [e.payload.terms.notify_by_email for e in facts], [e.payload.terms.default_locale.value for e in facts])


async def email_enabled(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bool]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.campaign_id, c.notify_by_email FROM campaigns c
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON c.tenant_id = k.t AND c.campaign_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["campaign_id"]): r["notify_by_email"] for r in rows}


def customer_hash(tenant_id: str, customer_id: str) -> bytes:
    return hashlib.sha256(f"{tenant_id}\x00{customer_id}".encode()).digest()


async def upsert_contacts(conn: asyncpg.Connection, facts: Sequence[Envelope[CustomerProfileUpdated]]) -> None:
    erased = await conn.fetch(
        """SELECT e.tenant_id, e.customer_hash, e.erased_at FROM erasures e
           JOIN unnest($1::text[], $2::bytea[]) AS k(t, h) ON e.tenant_id = k.t AND e.customer_hash = k.h""",
        [f.tenant_id for f in facts], [customer_hash(f.tenant_id, f.payload.customer_id) for f in facts])
    erased_at = {(r["tenant_id"], r["customer_hash"]): r["erased_at"] for r in erased}
    # An update written before the customer was erased must not bring the contact data back.
    facts = [f for f in facts if f.occurred_at > erased_at.get((f.tenant_id, customer_hash(f.tenant_id,
                                                                                         f.payload.customer_id)),
                                                                 f.occurred_at - timedelta(seconds=1))]
    if not facts:
        return
    await conn.execute(
        """INSERT INTO contacts (tenant_id, customer_id, email, locale, marketing_consent)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[])
           ON CONFLICT (tenant_id, customer_id) DO UPDATE SET email = excluded.email, locale = excluded.locale,
             marketing_consent = excluded.marketing_consent, updated_at = now()""",
        [e.tenant_id for e in facts], [e.payload.customer_id for e in facts], [e.payload.email for e in facts],
        [e.payload.locale.value for e in facts], [e.payload.marketing_consent for e in facts])


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str,
                erased_at: datetime) -> None:
    """Contact data (with the opt-out) goes; notifications keep their existence (for counts) but lose
    their contents and name the replacement id; emails not yet sent are not sent."""
    await conn.execute("DELETE FROM contacts WHERE tenant_id = $1 AND customer_id = $2", tenant_id, customer_id)
    await conn.execute(
        """INSERT INTO erasures (tenant_id, customer_hash, erased_at) VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id, customer_hash) DO UPDATE SET erased_at = greatest(erasures.erased_at, $3)""",
        tenant_id, customer_hash(tenant_id, customer_id), erased_at)
    await conn.execute(
        """UPDATE notifications SET recipient_id = $3, context = '{}'::jsonb,
             status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END
           WHERE tenant_id = $1 AND recipient_id = $2""", tenant_id, customer_id, replacement_id)
    await conn.execute(
        """UPDATE email_jobs SET recipient_id = $3,
             status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END,
             reason = CASE WHEN status = 'pending' THEN 'erased' ELSE reason END
           WHERE tenant_id = $1 AND recipient_id = $2""", tenant_id, customer_id, replacement_id)
    await conn.execute(
        """UPDATE email_messages SET recipient_id = $3,
             status = CASE WHEN status = 'pending' THEN 'suppressed' ELSE status END
           WHERE tenant_id = $1 AND recipient_id = $2""", tenant_id, customer_id, replacement_id)


async def feed(conn: asyncpg.Connection, tenant_id: str, customer_id: str,
               before: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    """A customer's notifications, newest first, after the cursor position `before`."""
    return await conn.fetch(
        """SELECT notification_id, template, context, channel, status, created_at FROM notifications
           WHERE tenant_id = $1 AND recipient_id = $2
             AND ($3::timestamptz IS NULL OR (created_at, notification_id) < ($3, $4::uuid))
           ORDER BY created_at DESC, notification_id DESC LIMIT $5""",
        tenant_id, customer_id, before[0] if before else None, before[1] if before else None, limit)
