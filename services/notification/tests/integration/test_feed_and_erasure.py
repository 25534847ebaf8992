"""The in-app feed (tenant API, newest first, paged) and erasure: after CustomerErased, no table of
notification's schema holds the customer's id or email, and their feed entries lose their contents."""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import CustomerErased, CustomerProfileUpdated, RewardGranted, RewardKind, RewardRole
from kaskade_devtools.testing import produce
from notification.webhooks import repo as webhook_repo

pytestmark = pytest.mark.integration


def granted(tenant: str, recipient: str, amount: int = 500) -> Envelope[RewardGranted]:
    return new_envelope(RewardGranted(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default", conversion_id=uuid.uuid4(),
        rule_id="r", recipient_id=recipient, role=RewardRole.referrer, kind=RewardKind.account_credit,
        amount_minor=amount, currency="EUR", generation=1), tenant_id=tenant)


async def until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return result


async def recorded(admin: asyncpg.Pool, event: Envelope[Any]) -> bool:
    return bool(await admin.fetchval("SELECT true FROM notification.notifications WHERE tenant_id = $1 AND "
                                      "source_event_id = $2", event.tenant_id, event.event_id))


async def test_the_feed_lists_a_customers_notifications_newest_first_in_pages(
        service: Any, auth: dict[str, str], keys: Any, admin: asyncpg.Pool, infra: Any, tenant: str) -> None:
    events = [granted(tenant, "anna", amount=100 * (i + 1)) for i in range(5)]
    for event in events:  # one at a time, so each is recorded after the one before
        await produce(infra.kafka_bootstrap_servers, [event])
        await until(lambda: recorded(admin, event), "the notification")
    await produce(infra.kafka_bootstrap_servers, [granted(tenant, "ben")])

    pages, cursor = [], None
    while True:
        r = await service.client.get("/v1/customers/anna/notifications", headers=auth,
                                     params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        pages.append(r.json()["items"])
        if not (cursor := r.json()["next_cursor"]):
            break
    entries = [e for page in pages for e in page]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [e["data"]["amount_minor"] for e in entries] == [500, 400, 300, 200, 100]
    assert {e["type"] for e in entries} == {"reward_granted_referrer"}

    other = await keys(f"nt-{uuid.uuid4().hex[:10]}")
    assert (await service.client.get("/v1/customers/anna/notifications", headers=other)).json()["items"] == []
    assert (await service.client.get("/v1/customers/anna/notifications", headers=auth,
                                     params={"cursor": "x"})).status_code == 400


async def copies(admin: asyncpg.Pool, tenant: str, needles: list[str]) -> list[str]:
    """Tables of notification's schema that still hold one of `needles` for the tenant."""
    tables = await admin.fetch(
        """SELECT table_name, array_agg(column_name::text) AS names FROM information_schema.columns
           WHERE table_schema = 'notification' AND data_type IN ('text', 'jsonb', 'ARRAY')
             AND table_name NOT IN ('schema_migrations', 'processed_events', 'outbox')
           GROUP BY table_name""")
    found = []
    for t in tables:
        scoped = "tenant_id = $2 AND " if "tenant_id" in t["names"] else ""
        tests = " OR ".join(f'strpos("{c}"::text, n) > 0' for c in t["names"])
        n = await admin.fetchval(f'SELECT count(*) FROM notification."{t["table_name"]}", unnest($1::text[]) AS n '
                                 f'WHERE {scoped}({tests})', needles, *([tenant] if scoped else []))
        if n:
            found.append(f'{t["table_name"]}: {n}')
    return found


async def test_erasure_removes_contact_data_and_notification_contents(
        service: Any, inbox: Any, receiver: Any, auth: dict[str, str], admin: asyncpg.Pool, infra: Any,
        tenant: str) -> None:
    customer, email = f"erase-{uuid.uuid4().hex[:8]}", f"erase-{uuid.uuid4().hex[:8]}@{tenant}.test"
    r = await service.client.post("/v1/webhooks/endpoints", headers=auth,
                                  json={"url": receiver.url(f"{tenant}-erase"), "event_types": ["reward.granted"]})
    endpoint_id = uuid.UUID(r.json()["endpoint_id"])
    await produce(infra.kafka_bootstrap_servers, [new_envelope(CustomerProfileUpdated(
        customer_id=customer, email=email), tenant_id=tenant)])
    sent = granted(tenant, customer)
    await produce(infra.kafka_bootstrap_servers, [sent])
    await inbox.wait(lambda: [m for m in inbox.messages if m["To"] == email], "the email")
    await until(lambda: asyncio.sleep(0, receiver.at(f"{tenant}-erase")), "the webhook")
    # A delivery not yet made (due in a day) must still be made, naming the replacement instead.
    later = granted(tenant, customer)
    async with service.runtime.pool.acquire() as conn, conn.transaction():  # never due before the update
        await webhook_repo.add_deliveries(conn, [webhook_repo.NewDelivery(
            tenant, later.event_id, "reward.granted", customer,
            {"type": "reward.granted", "data": {"recipient_id": customer}})])
        await conn.execute("UPDATE webhook_deliveries SET due_at = now() + interval '1 day' WHERE event_id = $1",
                           later.event_id)
    assert await copies(admin, tenant, [customer, email])

    replacement = f"erased-{uuid.uuid4().hex}"
    await produce(infra.kafka_bootstrap_servers, [new_envelope(CustomerErased(
        customer_id=customer, replacement_id=replacement), tenant_id=tenant)])

    async def gone() -> bool:
        return not await copies(admin, tenant, [customer, email])
    await until(gone, "every copy of the customer's id and email to be gone")
    r = await service.client.get(f"/v1/customers/{replacement}/notifications", headers=auth)
    [entry] = r.json()["items"]
    assert entry["data"] == {}
    pending = await admin.fetchval("""SELECT payload FROM notification.webhook_deliveries
                                      WHERE endpoint_id = $1 AND event_id = $2""", endpoint_id, later.event_id)
    assert '"recipient_id": "' + replacement in pending
    # A profile update written before the erasure, arriving late, does not bring the contact back.
    late = new_envelope(CustomerProfileUpdated(customer_id=customer, email=email), tenant_id=tenant,
                        occurred_at=sent.occurred_at)
    await produce(infra.kafka_bootstrap_servers, [late])
    await until(lambda: admin.fetchval("SELECT true FROM notification.processed_events WHERE event_id = $1",
                                       late.event_id), "the late update to be handled")
    assert await copies(admin, tenant, [customer, email]) == []
