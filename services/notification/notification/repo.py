"""notification's SQL."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import CampaignDefined
from notification.domain import Notification


async def record(conn: asyncpg.Connection, notes: Sequence[Notification]) -> int:
    """Insert pending notifications; returns how many were new."""
    if not notes:
        return 0
    rows = await conn.fetch(
        """INSERT INTO notifications (notification_id, tenant_id, recipient_id, channel, template,
                                      source_event_id, reward_id, context)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[],
                                $7::uuid[], $8::jsonb[])
           ON CONFLICT DO NOTHING RETURNING notification_id""",
        [n.notification_id for n in notes], [n.tenant_id for n in notes], [n.recipient_id for n in notes],
        [n.channel for n in notes], [n.template for n in notes], [n.source_event_id for n in notes],
        [n.reward_id for n in notes], [n.context for n in notes])
    return len(rows)


async def upsert_campaigns(conn: asyncpg.Connection, facts: Sequence[Envelope[CampaignDefined]]) -> None:
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
