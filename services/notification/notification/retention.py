"""How long delivery records are kept. The feed (notifications) stays: it is what customers see.

Webhook deliveries (with payloads and attempts) are kept `webhook_retention_days` after they
finished, long enough for a tenant to look at failures and ask for redeliveries. Email records
are kept `email_retention_days`: an email's unsubscribe link finds its recipient through them,
so the link works as long as the record exists.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from notification.config import Settings

BATCH = 5000  # rows per statement, so a purge never holds long locks


def purge(settings: Settings) -> Any:
    async def purge_finished(conn: asyncpg.Connection) -> Sequence[Any]:
        await conn.execute(
            """DELETE FROM webhook_deliveries WHERE delivery_id IN (
                 SELECT delivery_id FROM webhook_deliveries
                 WHERE status <> 'pending' AND created_at < now() - make_interval(days => $1) LIMIT $2)""",
            settings.webhook_retention_days, BATCH)
        await conn.execute(
            """DELETE FROM email_messages WHERE message_id IN (
                 SELECT message_id FROM email_messages
                 WHERE status <> 'pending' AND created_at < now() - make_interval(days => $1) LIMIT $2)""",
            settings.email_retention_days, BATCH)
        return []
    return purge_finished
