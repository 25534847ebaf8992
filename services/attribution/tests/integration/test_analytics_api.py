"""The analytics query API over real Postgres: a tenant's API key (replicated into attribution's
tenant_keys) reads its own campaign's figures and nobody else's. The read models are filled by
the projection's handlers directly; test_analytics.py covers the path through Kafka."""
from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from attribution.analytics_api import build_analytics_router
from attribution.analytics_handlers import HANDLERS
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (ApiKeyChanged, AttributionPath, Channel, ConversionAttributed, ConversionKind,
                                      ConversionRecorded, ShareRecorded)
from kaskade_platform import apikeys
from kaskade_platform.db import create_pool
from kaskade_platform.migrations import migrate
from kaskade_platform.tenantauth import TenantAuth, on_api_key_changed
from kaskade_platform.webapp import install_error_handlers

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
T0 = datetime.now(timezone.utc) - timedelta(days=1)


@pytest.fixture(scope="module")
async def pool(infra: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[asyncpg.Pool]:
    own = tmp_path_factory.mktemp("analytics-api-migrations")
    for f in MIGRATIONS.glob("00[2-9][0-9]_*.sql"):
        shutil.copy(f, own)
    p = await create_pool(os.environ["KASKADE_ATTRIBUTION_DATABASE_URL"], "attribution", min_size=1, max_size=3)
    async with p.acquire() as conn:
        await migrate(conn, "attribution", own)
    yield p
    await p.close()


async def tenant_with_key(pool: asyncpg.Pool) -> tuple[str, dict[str, str]]:
    tenant, key = f"aa-{uuid.uuid4().hex[:10]}", apikeys.mint()
    async with pool.acquire() as conn, conn.transaction():
        changed = ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex())
        await on_api_key_changed(conn, [new_envelope(changed, tenant_id=tenant)])
    return tenant, {"Authorization": f"Bearer {key.token}"}


async def project(pool: asyncpg.Pool, events: list[Envelope[Any]]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for e in events:
            await HANDLERS[type(e.payload)](conn, [e])


def small_cascade(tenant: str) -> list[Envelope[Any]]:
    """anna shares on WhatsApp (sentiment -1); ben buys with her code 2 hours after her own purchase."""
    share = new_envelope(ShareRecorded(share_id=uuid.uuid4(), campaign_id="spring", sharer_id="anna",
                                       channel=Channel.whatsapp, sentiment=-1, sharer_segment="students",
                                       referral_code=f"c{uuid.uuid4().hex[:11]}", referral_url="https://go.test/r/x"),
                         tenant_id=tenant, occurred_at=T0)

    def buys(who: str, hours: int, code: str | None) -> Envelope[ConversionRecorded]:
        return new_envelope(ConversionRecorded(conversion_id=uuid.uuid4(), campaign_id="spring", customer_id=who,
                                               kind=ConversionKind.purchase, referral_code=code,
                                               customer_segment="pros"), tenant_id=tenant,
                            occurred_at=T0 + timedelta(hours=hours))
    anna, ben = buys("anna", 0, None), buys("ben", 2, share.payload.referral_code)
    verdict = new_envelope(ConversionAttributed(
        conversion_id=ben.payload.conversion_id, campaign_id="spring", kind=ConversionKind.purchase, amount_minor=0,
        currency="EUR", referee_id="ben", referrer_id="anna", root_seeder_id="anna", generation=1,
        path=AttributionPath.referral_code), tenant_id=tenant)
    return [share, anna, ben, verdict]


@pytest.fixture(scope="module")
async def client(pool: asyncpg.Pool) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(build_analytics_router(TenantAuth(lambda: pool, rate_limit_per_s=100, rate_limit_burst=100,
                                                         cache_s=0), lambda: pool))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://attribution") as c:
        yield c


async def test_a_tenant_reads_its_campaigns_figures(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    tenant, auth = await tenant_with_key(pool)
    await project(pool, small_cascade(tenant))
    base = "/v1/analytics/campaigns/spring"

    r = await client.get(f"{base}/funnel", params={"by": "channel"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"campaign_id": "spring", "by": "channel", "rows": [
        {"key": "whatsapp", "shares": 1, "clicks": 0, "signups": 0, "purchases": 1}]}
    k = (await client.get(f"{base}/k-factor", headers=auth)).json()["rows"]
    assert [(row["key"], row["customers"], row["invites"], row["won"], row["k"]) for row in k] == [
        (0, 1, 1, 1, 1.0), (1, 1, 0, 0, 0.0)]
    cycle = (await client.get(f"{base}/cycle-time", headers=auth)).json()["rows"]
    assert cycle == [{"generation": 1, "referees": 1, "average_s": 7200.0, "median_s": 7200.0}]
    sentiment = (await client.get(f"{base}/sentiment", headers=auth)).json()["rows"]
    assert sentiment == [{"key": "all", "shares": 1, "rated": 1, "negative": 1, "negative_share": 1.0}]
    drift = (await client.get(f"{base}/drift", headers=auth)).json()["rows"]
    assert [(d["generation"], d["mix"], d["distance"]) for d in drift] == [(0, {"students": 1.0}, 0.0),
                                                                        (1, {"pros": 1.0}, 1.0)]


async def test_another_tenant_sees_none_of_it(pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
    tenant, _ = await tenant_with_key(pool)
    await project(pool, small_cascade(tenant))
    _, other = await tenant_with_key(pool)

    r = await client.get("/v1/analytics/campaigns/spring/funnel", headers=other)
    assert (r.status_code, r.json()["rows"]) == (200, [])


async def test_without_a_key_or_with_a_bad_split_the_caller_is_told(pool: asyncpg.Pool,
                                                                   client: httpx.AsyncClient) -> None:
    _, auth = await tenant_with_key(pool)
    base = "/v1/analytics/campaigns/spring"

    r = await client.get(f"{base}/funnel")
    assert (r.status_code, r.json()["error"]) == (401, "unauthenticated")
    r = await client.get(f"{base}/k-factor", params={"by": "channel"}, headers=auth)
    assert (r.status_code, r.json()["error"]) == (422, "validation_failed")
    r = await client.get(f"{base}/funnel", params={"by": "colour"}, headers=auth)
    assert r.status_code == 422
