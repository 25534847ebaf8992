"""The cascade query API over real Postgres: a tenant's API key (replicated into attribution's
tenant_keys) reads its own cascade, paged and cut at a depth, and nobody else's. The cascade is
built by the attribution handlers themselves; the path through Kafka is covered elsewhere."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from attribution.api import build_router
from attribution.app import build_app
from attribution.config import Settings
from attribution.handlers import Attribution
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import ApiKeyChanged, Channel, ConversionKind, ConversionRecorded, ShareRecorded
from kaskade_platform import apikeys
from kaskade_platform.tenantauth import TenantAuth, on_api_key_changed
from kaskade_platform.webapp import install_error_handlers

pytestmark = pytest.mark.integration
# referee: referrer, campaign
CASCADE = {"ben": ("anna", "default"), "cleo": ("anna", "default"), "dora": ("ben", "default"),
           "eve": ("dora", "default"), "fred": ("xavier", "other")}


@pytest.fixture(scope="module")
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_router(TenantAuth(lambda: pool, rate_limit_per_s=1000, rate_limit_burst=1000,
                                               cache_s=10), lambda: pool))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://attribution.test") as c:
        yield c


async def tenant_with_key(pool: asyncpg.Pool) -> tuple[str, dict[str, str]]:
    tenant, key = f"ca-{uuid.uuid4().hex[:10]}", apikeys.mint()
    async with pool.acquire() as conn, conn.transaction():
        changed = ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex())
        await on_api_key_changed(conn, [new_envelope(changed, tenant_id=tenant)])
    return tenant, {"Authorization": f"Bearer {key.token}"}


@pytest.fixture
async def cascade(pool: asyncpg.Pool) -> tuple[str, dict[str, str]]:
    """A tenant whose customers referred one another as in CASCADE, and its API key."""
    tenant, auth = await tenant_with_key(pool)
    a = Attribution(hold_grace_s=600)
    for referee, (referrer, campaign) in CASCADE.items():
        code = f"c{uuid.uuid4().hex[:11]}"
        share = ShareRecorded(share_id=uuid.uuid4(), campaign_id=campaign, sharer_id=referrer, channel=Channel.sms,
                              referral_code=code, referral_url=f"https://go.test/r/{code}")
        buy = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id=referee, kind=ConversionKind.signup,
                                 referral_code=code)
        async with pool.acquire() as conn, conn.transaction():
            await a.on_shares(conn, [new_envelope(share, tenant_id=tenant)])
            [verdict] = await a.on_conversions(conn, [new_envelope(buy, tenant_id=tenant)])
            assert verdict.event_type == "ConversionAttributed"
    return tenant, auth


def names(page: dict[str, Any]) -> list[tuple[str, int]]:
    return [(n["referee_id"], n["depth"]) for n in page["nodes"]]


async def test_a_seeders_tree_is_breadth_first_and_paged(client: httpx.AsyncClient, cascade: Any) -> None:
    _, auth = cascade
    first = (await client.get("/v1/customers/anna/cascade", params={"limit": 2}, headers=auth)).json()
    second = (await client.get("/v1/customers/anna/cascade", params={"limit": 2, "cursor": first["next_cursor"]},
                               headers=auth)).json()
    last = (await client.get("/v1/customers/anna/cascade", params={"limit": 2, "cursor": second["next_cursor"]},
                             headers=auth)).json()

    assert names(first) == [("ben", 1), ("cleo", 1)]
    assert names(second) == [("dora", 2), ("eve", 3)]
    assert last == {"nodes": [], "next_cursor": None}
    assert first["nodes"][0]["referrer_id"] == "anna" and first["nodes"][0]["root_seeder_id"] == "anna"


async def test_depth_cuts_the_tree(client: httpx.AsyncClient, cascade: Any) -> None:
    _, auth = cascade
    page = (await client.get("/v1/customers/anna/cascade", params={"depth": 2}, headers=auth)).json()
    assert (names(page), page["next_cursor"]) == ([("ben", 1), ("cleo", 1), ("dora", 2)], None)


async def test_the_tree_below_a_referee_is_their_own_subtree(client: httpx.AsyncClient, cascade: Any) -> None:
    _, auth = cascade
    page = (await client.get("/v1/customers/ben/cascade", headers=auth)).json()
    assert names(page) == [("dora", 1), ("eve", 2)]
    assert [n["generation"] for n in page["nodes"]] == [2, 3]


async def test_a_campaigns_tree_holds_only_its_referrals(client: httpx.AsyncClient, cascade: Any) -> None:
    _, auth = cascade
    default = (await client.get("/v1/campaigns/default/cascade", params={"depth": 2}, headers=auth)).json()
    other = (await client.get("/v1/campaigns/other/cascade", headers=auth)).json()
    assert names(default) == [("ben", 1), ("cleo", 1), ("dora", 2)]
    assert names(other) == [("fred", 1)]


async def test_a_customers_upline_goes_up_to_the_seeder(client: httpx.AsyncClient, cascade: Any) -> None:
    _, auth = cascade
    eve = (await client.get("/v1/customers/eve/upline", headers=auth)).json()
    anna = (await client.get("/v1/customers/anna/upline", headers=auth)).json()
    assert (eve["referred"], eve["referrer_id"], eve["generation"], eve["upline"]) == (
        True, "dora", 3, ["dora", "ben", "anna"])
    assert (anna["referred"], anna["upline"]) == (False, [])


async def test_another_tenant_sees_none_of_it(client: httpx.AsyncClient, cascade: Any,
                                              pool: asyncpg.Pool) -> None:
    _, other = await tenant_with_key(pool)
    assert (await client.get("/v1/customers/anna/cascade", headers=other)).json()["nodes"] == []
    assert (await client.get("/v1/campaigns/default/cascade", headers=other)).json()["nodes"] == []
    assert (await client.get("/v1/customers/eve/upline", headers=other)).json()["referred"] is False


async def test_callers_without_a_key_or_with_a_bad_cursor_are_refused(client: httpx.AsyncClient,
                                                                      cascade: Any) -> None:
    _, auth = cascade
    assert (await client.get("/v1/customers/anna/cascade")).status_code == 401
    bad = await client.get("/v1/customers/anna/cascade", params={"cursor": "not-ours"}, headers=auth)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_cursor")
    assert (await client.get("/v1/customers/anna/cascade", params={"depth": 0}, headers=auth)).status_code == 422


def test_the_service_app_serves_the_cascade_api() -> None:
    app, _ = build_app(Settings())
    paths = set(app.openapi()["paths"])
    assert {"/v1/customers/{customer_id}/cascade", "/v1/campaigns/{campaign_id}/cascade",
            "/v1/customers/{customer_id}/upline", "/v1/rejections", "/healthz"} <= paths


async def test_refused_referrals_are_listed_for_review_newest_first(client: httpx.AsyncClient,
                                                                    pool: asyncpg.Pool) -> None:
    tenant, auth = await tenant_with_key(pool)
    _, other = await tenant_with_key(pool)
    a = Attribution(hold_grace_s=600)
    code = f"c{uuid.uuid4().hex[:11]}"
    share = ShareRecorded(share_id=uuid.uuid4(), sharer_id="anna", channel=Channel.sms, referral_code=code,
                          referral_url=f"https://go.test/r/{code}")
    own = [ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="anna", kind=ConversionKind.purchase,
                              referral_code=code) for _ in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        await a.on_shares(conn, [new_envelope(share, tenant_id=tenant)])
    for conv in own:  # one batch each: each its own rejected_at
        async with pool.acquire() as conn, conn.transaction():
            await a.on_conversions(conn, [new_envelope(conv, tenant_id=tenant)])

    first = (await client.get("/v1/rejections", params={"limit": 2}, headers=auth)).json()
    rest = (await client.get("/v1/rejections", params={"limit": 2, "cursor": first["next_cursor"]},
                             headers=auth)).json()

    listed = [r["conversion_id"] for r in first["rejections"] + rest["rejections"]]
    assert listed == [str(c.conversion_id) for c in reversed(own)]
    assert rest["next_cursor"] is None
    assert {(r["reason"], r["detail"], r["referrer_id"]) for r in first["rejections"]} == {
        ("self_referral", "same_customer_id", "anna")}
    assert (await client.get("/v1/rejections", headers=other)).json() == {"rejections": [], "next_cursor": None}
