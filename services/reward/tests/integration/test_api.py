"""The tenant API over real Postgres: a customer's rewards (paged) and balances, a campaign's
budget, each scoped to the tenant whose API key (replicated into reward's tenant_keys) asks.
The ledger is filled by the handlers themselves; the path through Kafka is covered elsewhere."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import ApiKeyChanged
from kaskade_platform import apikeys
from kaskade_platform.tenantauth import TenantAuth, on_api_key_changed
from kaskade_platform.webapp import install_error_handlers
from reward.api import build_router
from reward.handlers import Rewards

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
async def client(db: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(TenantAuth(lambda: db, rate_limit_per_s=1000, rate_limit_burst=1000, cache_s=10),
                                    lambda: db))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://reward.test") as c:
        yield c


async def key_for(db: asyncpg.Pool, tenant: str) -> dict[str, str]:
    key = apikeys.mint()
    async with db.acquire() as conn, conn.transaction():
        changed = ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex())
        await on_api_key_changed(conn, [new_envelope(changed, tenant_id=tenant)])
    return {"Authorization": f"Bearer {key.token}"}


@pytest.fixture
async def ledger(kit: Any) -> tuple[Any, list[Any]]:
    """Anna referred three purchases of 1000 (500 each, plus 100 for each referee) on a 10,000 budget;
    the first is confirmed, the second is refunded by 40%."""
    rewards = Rewards(kit.runtime.settings, kit.clock)
    facts = [kit.attributed(f"friend-{i}", campaign="spring", amount=1000, at=kit.clock.now() + timedelta(days=i))
             for i in range(3)]
    async with kit.db.acquire() as conn, conn.transaction():
        await rewards.on_campaigns(conn, [kit.campaign(1, referrer=500, referee=100, budget_minor=10_000,
                                                       holding_days=14)])
    for fact in facts:  # one batch each: rewards are told apart by when they were booked
        async with kit.db.acquire() as conn, conn.transaction():
            await rewards.on_attributed(conn, [fact])
    async with kit.db.acquire() as conn, conn.transaction():
        await rewards.on_reversed(conn, [kit.reversed(facts[1], 400)])
    kit.clock.at = facts[0].occurred_at + timedelta(days=14)
    await kit.confirm()
    return kit, facts


async def test_a_customers_rewards_come_newest_first_in_pages(client: httpx.AsyncClient, ledger: Any) -> None:
    kit, facts = ledger
    auth = await key_for(kit.db, kit.tenant)
    first = (await client.get("/v1/customers/anna/rewards", params={"limit": 2}, headers=auth)).json()
    rest = (await client.get("/v1/customers/anna/rewards", params={"limit": 2, "cursor": first["next_cursor"]},
                             headers=auth)).json()

    rows = first["rewards"] + rest["rewards"]
    assert [r["conversion_id"] for r in rows] == [str(f.payload.conversion_id) for f in reversed(facts)]
    assert [(r["status"], r["amount_minor"], r["revoked_minor"], r["role"]) for r in rows] == [
        ("pending", 500, 0, "referrer"), ("pending", 500, 200, "referrer"), ("confirmed", 500, 0, "referrer")]
    assert rest["next_cursor"] is None and first["next_cursor"] is not None


async def test_a_customers_balances_are_pending_and_confirmed_per_currency(client: httpx.AsyncClient,
                                                                           ledger: Any) -> None:
    kit, _ = ledger
    auth = await key_for(kit.db, kit.tenant)
    anna = (await client.get("/v1/customers/anna/balances", headers=auth)).json()
    stranger = (await client.get("/v1/customers/nobody/balances", headers=auth)).json()

    assert anna == {"customer_id": "anna", "balances": [{"currency": "EUR", "pending_minor": 800,
                                                         "confirmed_minor": 500}]}
    assert stranger == {"customer_id": "nobody", "balances": []}


async def test_a_campaigns_budget_adds_up(client: httpx.AsyncClient, ledger: Any) -> None:
    kit, _ = ledger
    auth = await key_for(kit.db, kit.tenant)
    budget = (await client.get("/v1/campaigns/spring/budget", headers=auth)).json()

    # granted 3 x 600; revoked 40% of 600; confirmed the first 600; the rest pending.
    assert budget == {"campaign_id": "spring", "budgets": [{
        "currency": "EUR", "budget_minor": 10_000, "granted_minor": 1800, "pending_minor": 960,
        "confirmed_minor": 600, "revoked_minor": 240, "remaining_minor": 10_000 - 1800 + 240}]}


async def test_another_tenant_sees_none_of_it(client: httpx.AsyncClient, ledger: Any) -> None:
    kit, _ = ledger
    other = await key_for(kit.db, f"rw-other-{uuid.uuid4().hex[:8]}")

    budget = await client.get("/v1/campaigns/spring/budget", headers=other)
    rewards = (await client.get("/v1/customers/anna/rewards", headers=other)).json()
    assert (budget.status_code, budget.json()["error"]) == (404, "unknown_campaign")
    assert rewards == {"rewards": [], "next_cursor": None}


async def test_bad_requests_are_told_why(client: httpx.AsyncClient, kit: Any) -> None:
    auth = await key_for(kit.db, kit.tenant)
    anonymous = await client.get("/v1/customers/anna/rewards")
    bad_cursor = await client.get("/v1/customers/anna/rewards", params={"cursor": "bm9wZQ"}, headers=auth)
    too_many = await client.get("/v1/customers/anna/rewards", params={"limit": 501}, headers=auth)

    assert [(r.status_code, r.json()["error"]) for r in (anonymous, bad_cursor, too_many)] == [
        (401, "unauthenticated"), (400, "invalid_cursor"), (422, "validation_failed")]


async def test_api_keys_announced_on_the_tenants_topic_open_the_api(client: httpx.AsyncClient, kit: Any) -> None:
    key = apikeys.mint()
    announced = new_envelope(ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex()), tenant_id=kit.tenant)
    await kit.send(announced)
    await kit.applied(announced)

    r = await client.get("/v1/customers/anna/balances", headers={"Authorization": f"Bearer {key.token}"})
    assert (r.status_code, r.json()["balances"]) == (200, [])
