"""A customer asks to be forgotten: after the erasure has travelled, no schema of any service
holds their email or their id, while the referral cascade and the ledger keep their shape."""
from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from kaskade_contracts import topics
from kaskade_devtools.stack import Stack
from kaskade_devtools.testing import TopicWatcher, for_tenant, register_tenant

pytestmark = pytest.mark.e2e
SCHEMAS = ("share_ingest", "attribution", "reward", "notification")


async def _copies(conn: asyncpg.Connection, tenant: str, needles: list[str]) -> list[str]:
    """Every table of the services' schemas that still holds one of `needles` for `tenant`."""
    cols = await conn.fetch(
        """SELECT table_schema, table_name, array_agg(column_name::text) AS names, array_agg(data_type::text) AS types
           FROM information_schema.columns
           WHERE table_schema = ANY($1::text[]) AND data_type IN ('text', 'character', 'jsonb', 'bytea', 'ARRAY')
             AND table_name NOT IN ('schema_migrations', 'processed_events')  -- ids and topic names only
           GROUP BY table_schema, table_name""", list(SCHEMAS))
    found = []
    for t in cols:
        tests = [f'position(convert_to(n, \'UTF8\') in "{c}") > 0' if kind == "bytea" else f'strpos("{c}"::text, n) > 0'
                 for c, kind in zip(t["names"], t["types"])]
        # The outbox has no tenant column, but every row's partition key starts with the tenant.
        scoped = ("tenant_id = $2 AND " if "tenant_id" in t["names"] else
                  "position(convert_to($2, 'UTF8') in partition_key) = 1 AND " if "partition_key" in t["names"] else "")
        n = await conn.fetchval(
            f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}", unnest($1::text[]) AS n '
            f'WHERE {scoped}({" OR ".join(tests)})', needles, *([tenant] if scoped else []))
        if n:
            found.append(f'{t["table_schema"]}.{t["table_name"]}: {n}')
    return found


async def test_an_erased_customer_leaves_no_email_and_no_id_in_any_schema(stack: Stack, infra: Any) -> None:
    tenant, run = f"erase-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    anna, ben = f"anna-{run}", f"ben-{run}"
    emails = {anna: f"anna.{run}@example.org", ben: f"ben.{run}@example.org"}
    admin = await asyncpg.connect(os.environ["KASKADE_ADMIN_DATABASE_URL"])
    try:
        async with httpx.AsyncClient(base_url=stack.base_url) as client, \
                TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as out:
            auth = await register_tenant(client, tenant)
            for who in (anna, ben):
                r = await client.put(f"/v1/customers/{who}", headers=auth,
                                     json={"email": emails[who], "locale": "de", "marketing_consent": True})
                assert r.status_code == 200, r.text
            code = (await client.post("/v1/shares", headers=auth,
                                      json={"sharer_id": anna, "channel": "email"})).json()["referral_code"]
            r = await client.post("/v1/conversions", headers=auth, json={
                "conversion_id": str(uuid.uuid4()), "customer_id": ben, "kind": "purchase", "amount_minor": 3000,
                "referral_code": code})
            assert r.status_code == 202
            await out.wait_for(lambda w: w.events("RewardGranted"), 30, "anna's reward")
            for _ in range(100):  # the contact data has reached notification
                if await admin.fetchval("SELECT count(*) FROM notification.contacts WHERE tenant_id = $1", tenant) == 2:
                    break
                await asyncio.sleep(0.1)
            assert await _copies(admin, tenant, [emails[anna]]), "the email should be stored before the erasure"

            for who in (anna, ben):
                r = await client.delete(f"/v1/customers/{who}", headers=auth)
                assert (r.status_code, r.json()["status"]) == (202, "erasure_requested")
            assert (await client.get(f"/v1/customers/{anna}", headers=auth)).status_code == 404

        left: list[str] = []
        for _ in range(20):
            left = await _copies(admin, tenant, [*emails.values(), anna, ben])
            if not left:
                break
            await asyncio.sleep(1)
        assert left == []
        # The cascade and the ledger keep their shape under the replacement ids.
        binding = await admin.fetchrow("SELECT referee_id, referrer_id, generation FROM attribution.bindings "
                                       "WHERE tenant_id = $1", tenant)
        assert binding["generation"] == 1 and binding["referee_id"].startswith("erased-") \
            and binding["referrer_id"].startswith("erased-") and binding["referee_id"] != binding["referrer_id"]
        reward = await admin.fetchrow("SELECT recipient_id, amount_minor FROM reward.rewards WHERE tenant_id = $1",
                                      tenant)
        assert (reward["recipient_id"], reward["amount_minor"]) == (binding["referrer_id"], 500)
    finally:
        await admin.close()
