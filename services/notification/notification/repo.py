"""notification's SQL."""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg

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
