"""A referral end to end through four processes: share → purchase → attribution → reward →
notification, exactly once even when services are SIGKILLed mid-stream, with poison messages
on every consumed topic dead-lettered while the flow goes on."""
from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from kaskade_contracts import topics
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import ConversionKind, RecordConversion
from kaskade_devtools.stack import Stack
from kaskade_devtools.testing import TopicWatcher, allow_instant_purchases, for_tenant, produce, register_tenant

pytestmark = pytest.mark.e2e


async def _tenant(base_url: str) -> tuple[str, dict[str, str]]:
    """A fresh tenant registered through the operator API, and the headers that authenticate as it."""
    tenant = f"e2e-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(base_url=base_url) as client:
        auth = await register_tenant(client, tenant)
        await allow_instant_purchases(client, auth)
        return tenant, auth


async def _share(client: httpx.AsyncClient, auth: dict[str, str], sharer: str) -> str:
    r = await client.post("/v1/shares", json={"sharer_id": sharer, "channel": "whatsapp"}, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()["referral_code"]


async def _admin_fetch(sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(os.environ["KASKADE_ADMIN_DATABASE_URL"])
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def test_a_purchase_through_a_shared_link_rewards_the_referrer(stack: Stack, infra: Any) -> None:
    tenant, auth = await _tenant(stack.base_url)
    async with httpx.AsyncClient(base_url=stack.base_url) as client, \
            TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as rewards:
        code = await _share(client, auth, "anna")
        click = await client.get(f"/r/{code}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"})
        assert click.status_code == 302
        click_id = httpx.URL(click.headers["location"]).params["kaskade_click"]
        conversion_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        r = await client.post("/v1/conversions", headers={**auth, "X-Correlation-Id": correlation_id}, json={
            "conversion_id": conversion_id, "customer_id": "ben", "kind": "purchase", "amount_minor": 4999,
            "currency": "EUR", "click_id": click_id})
        assert (r.status_code, r.json()["status"]) == (202, "accepted")
        assert r.headers["x-correlation-id"] == correlation_id
        await rewards.wait_for(lambda w: w.events("RewardGranted"), 30, "RewardGranted for anna")

    granted = rewards.events("RewardGranted")[0]
    assert (granted.payload.recipient_id, granted.payload.amount_minor, str(granted.payload.conversion_id)) == \
        ("anna", 500, conversion_id)
    # The backend's request id follows the purchase through every hop, for tracing and logs.
    assert str(granted.correlation_id) == correlation_id
    notes = await _admin_fetch(
        "SELECT recipient_id, status, template FROM notification.notifications WHERE tenant_id = $1", tenant)
    for _ in range(50):
        if notes:
            break
        await asyncio.sleep(0.1)
        notes = await _admin_fetch(
            "SELECT recipient_id, status, template FROM notification.notifications WHERE tenant_id = $1", tenant)
    assert [tuple(n) for n in notes] == [("anna", "pending", "reward_granted_referrer")]


async def test_bad_http_input_names_the_field_and_writes_nothing(stack: Stack) -> None:
    tenant, auth = await _tenant(stack.base_url)
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        r = await client.post("/v1/conversions", headers=auth, json={
            "conversion_id": str(uuid.uuid4()), "customer_id": "ben", "kind": "purchase", "amount_minor": 100,
            "currency": "euro"})
        assert r.status_code == 422
        assert r.json()["error"] == "validation_failed"
        assert [d["field"] for d in r.json()["detail"]] == ["body.currency"]
        r = await client.post("/v1/shares", headers=auth, content=b"{not json")
        assert r.status_code == 422 and r.json()["error"] == "validation_failed"
        r = await client.post("/v1/shares", headers=auth,
                              json={"sharer_id": "x", "channel": "email", "campaign_id": "no-such-campaign"})
        assert (r.status_code, r.json()["error"]) == (422, "unknown_campaign")
        r = await client.post("/v1/shares", json={"sharer_id": "x", "channel": "email"})
        assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")
    rows = await _admin_fetch("""SELECT (SELECT count(*) FROM share_ingest.conversions WHERE tenant_id = $1)
                                      + (SELECT count(*) FROM share_ingest.shares WHERE tenant_id = $1) AS n""", tenant)
    assert rows[0]["n"] == 0


async def test_every_purchase_is_rewarded_exactly_once_across_sigkills(stack: Stack, infra: Any) -> None:
    (tenant, auth), n = await _tenant(stack.base_url), 600
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        codes = [await _share(client, auth, f"seeder-{i}") for i in range(10)]
    purchases = [new_envelope(RecordConversion(
        conversion_id=uuid.uuid4(), customer_id=f"friend-{i}", kind=ConversionKind.purchase, amount_minor=2500,
        currency="EUR", referral_code=codes[i % len(codes)]), tenant_id=tenant) for i in range(n)]
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as out:
        async def feed() -> None:
            # A steady stream (~200 purchases/s), so every kill lands while batches are in flight.
            for i in range(0, n, 20):
                await produce(infra.kafka_bootstrap_servers, purchases[i:i + 20])
                await asyncio.sleep(0.1)

        feeding = asyncio.create_task(feed())
        for victim in ("attribution", "reward", "notification", "share_ingest"):
            await asyncio.sleep(0.6)
            stack.kill(victim)
            stack.respawn(victim)
            await asyncio.to_thread(stack.wait_ready, victim)
        await feeding
        await out.wait_for(lambda w: len({e.payload.reward_id for e in w.events("RewardGranted")}) >= n, 120,
                           f"{n} distinct rewards")
        await asyncio.sleep(2)  # anything extra would show up now

    granted = out.events("RewardGranted")
    # A SIGKILL between publishing and marking the outbox row sent may republish an event with
    # the same id; consumers drop it. What must hold: one reward per purchase, none extra.
    assert len({e.event_id for e in granted}) == n
    assert len({e.payload.reward_id for e in granted}) == n
    assert {e.payload.conversion_id for e in granted} == {p.payload.conversion_id for p in purchases}
    for _ in range(100):
        notes = await _admin_fetch("SELECT count(*) AS n, count(DISTINCT reward_id) AS d "
                                   "FROM notification.notifications WHERE tenant_id = $1", tenant)
        if notes[0]["n"] >= n:
            break
        await asyncio.sleep(0.1)
    assert (notes[0]["n"], notes[0]["d"]) == (n, n)
    ledger = await _admin_fetch(
        """SELECT (SELECT count(*) FROM reward.rewards WHERE tenant_id = $1 AND status = 'pending') AS rewards,
                  (SELECT balance FROM reward.accounts WHERE tenant_id = $1 AND kind = 'campaign_budget') AS budget,
                  (SELECT count(*) FROM (SELECT e.tx_id FROM reward.ledger_entries e
                     JOIN reward.ledger_transactions t USING (tx_id) WHERE t.tenant_id = $1
                     GROUP BY e.tx_id HAVING sum(e.amount) <> 0) x) AS unbalanced""", tenant)
    assert dict(ledger[0]) == {"rewards": n, "budget": 100_000_000 - 500 * n, "unbalanced": 0}


async def test_poison_on_every_consumed_topic_is_dead_lettered_while_the_flow_goes_on(stack: Stack,
                                                                                        infra: Any) -> None:
    tenant, auth = await _tenant(stack.base_url)
    consumed = [topics.INTAKE, topics.SHARES, topics.CLICKS, topics.CONVERSIONS, topics.ATTRIBUTIONS, topics.REWARDS]
    headers = {"kaskade-tenant-id": tenant}
    async with TopicWatcher(infra.kafka_bootstrap_servers, tuple(t.dead_letter for t in consumed),
                            keep=for_tenant(tenant)) as dlq, \
            TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as rewards:
        await produce(infra.kafka_bootstrap_servers, [(t.name, b"\x00garbage " + t.name.encode(), headers)
                                                      for t in consumed])
        async with httpx.AsyncClient(base_url=stack.base_url) as client:
            code = await _share(client, auth, "carla")
            r = await client.post("/v1/conversions", headers=auth, json={
                "conversion_id": str(uuid.uuid4()), "customer_id": "dave", "kind": "purchase",
                "amount_minor": 1000, "referral_code": code})
            assert r.status_code == 202
        await dlq.wait_for(lambda w: len(w.seen) >= len(consumed), 30, "a dead letter per consumed topic")
        await rewards.wait_for(lambda w: w.events("RewardGranted"), 30, "the reward after the poison")

    by_topic = {s.record.topic: dict(s.record.headers) for s in dlq.seen}
    assert set(by_topic) == {t.dead_letter for t in consumed}
    for t in consumed:
        h = by_topic[t.dead_letter]
        assert h["kaskade-dlq-reason"] == b"undecodable"
        assert h["kaskade-dlq-source-topic"] == t.name.encode()
    assert rewards.events("RewardGranted")[0].payload.recipient_id == "carla"
