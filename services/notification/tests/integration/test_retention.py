"""Delivery records are purged after their retention period; the feed and pending work stay."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from notification import retention
from notification.webhooks import domain, repo as webhook_repo

pytestmark = pytest.mark.integration


async def test_finished_deliveries_and_emails_past_retention_are_purged(service: Any, admin: asyncpg.Pool,
                                                                        tenant: str) -> None:
    async with service.runtime.pool.acquire() as conn, conn.transaction():
        endpoint_id = uuid.uuid4()
        endpoint = await webhook_repo.create_endpoint(conn, endpoint_id, tenant, "https://hooks.example/x",
                                                      ["reward.granted"], "",
                                                      service.runtime.webhooks.box.seal(domain.new_secret(), endpoint_id))
        await conn.execute(
            """INSERT INTO webhook_deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type, payload,
                                               status, due_at, created_at)
               SELECT gen_random_uuid(), $1, $2, gen_random_uuid(), 'reward.granted', '{}', s, now() + interval '1 day',
                      now() - make_interval(days => d)
               FROM (VALUES ('delivered', 31), ('failed', 31), ('delivered', 29), ('pending', 31)) AS x(s, d)""",
            tenant, endpoint["endpoint_id"])
        await conn.execute(
            """INSERT INTO email_messages (message_id, tenant_id, recipient_id, notification_ids, kind, status, due_at,
                                           created_at)
               SELECT gen_random_uuid(), $1, 'anna', '{}', 'single', s, now() + interval '1 day',
                      now() - make_interval(days => d)
               FROM (VALUES ('sent', 181), ('sent', 179), ('pending', 181)) AS x(s, d)""", tenant)

    await service.runtime.run_job(retention.purge(service.settings))

    kept = await admin.fetch("""SELECT status, extract(day FROM now() - created_at)::int AS age
                                FROM notification.webhook_deliveries WHERE tenant_id = $1 ORDER BY 1, 2""", tenant)
    assert [(r["status"], r["age"]) for r in kept] == [("delivered", 29), ("pending", 31)]
    mails = await admin.fetch("""SELECT status, extract(day FROM now() - created_at)::int AS age
                                 FROM notification.email_messages WHERE tenant_id = $1 ORDER BY 1, 2""", tenant)
    assert [(r["status"], r["age"]) for r in mails] == [("pending", 181), ("sent", 179)]
    async with service.runtime.pool.acquire() as conn:  # nothing left that a later run would try to send
        await webhook_repo.delete_endpoint(conn, tenant, endpoint["endpoint_id"])
        await conn.execute("DELETE FROM email_messages WHERE tenant_id = $1", tenant)
