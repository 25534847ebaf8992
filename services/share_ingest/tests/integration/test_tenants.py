"""share-ingest's doors, against real Postgres: the operator API and its CLI, tenant API keys
(issue, rotate, revoke), tenant isolation, the per-tenant rate limit and the body size limit.

Each app is the real service in this process. The module's app checks keys on every request
(key_cache_s=0), so what a test sees is what the database says; settings a test is about get an
app of their own.
"""
from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import httpx
import pytest

from kaskade_devtools.stack import ROOT
from kaskade_devtools.testing import register_tenant
from share_ingest.app import build
from share_ingest.config import Settings

pytestmark = pytest.mark.integration
OPERATOR = "tenants-operator-token"
GRACE_S = 3600
BASE_SETTINGS: dict[str, Any] = {"operator_token": OPERATOR, "key_cache_s": 0, "key_grace_period_s": GRACE_S}
AS_OPERATOR = {"Authorization": f"Bearer {OPERATOR}"}


@asynccontextmanager
async def serving(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a running share-ingest built with these settings."""
    app, _ = build(Settings(**{**BASE_SETTINGS, **overrides}))
    # A server error reaches the test as the 500 a caller would get, not as the app's exception.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture(scope="module")
async def client(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serving() as c:
        yield c


@pytest.fixture(scope="module")
async def tight(infra: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An app with a small rate limit (1/s, burst 3) and a small body limit (1 KiB)."""
    async with serving(rate_limit_per_s=1, rate_limit_burst=3, max_body_bytes=1024) as c:
        yield c


def new_tenant_id() -> str:
    return f"tn-{uuid.uuid4().hex[:10]}"


async def create_tenant(client: httpx.AsyncClient, tenant: str | None = None) -> dict[str, Any]:
    r = await client.post("/admin/v1/tenants", json={"tenant_id": tenant or new_tenant_id(), "name": "Acme Shop"},
                          headers=AS_OPERATOR)
    assert r.status_code == 201, r.text
    return r.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def share(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/v1/shares", json={"sharer_id": "anna", "channel": "email", **body}, headers=headers)


async def works(client: httpx.AsyncClient, key: str) -> bool:
    """Whether the key authenticates (a cheap authenticated read: 404 for an unknown share)."""
    r = await client.get(f"/v1/shares/{uuid.uuid4()}", headers=bearer(key))
    assert r.status_code in (401, 404), r.text
    return r.status_code == 404


async def count(admin: asyncpg.Pool, table: str, tenant: str) -> int:
    return await admin.fetchval(f"SELECT count(*) FROM share_ingest.{table} WHERE tenant_id = $1", tenant)


def assert_unauthenticated(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"


# --- the operator API -------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer not-the-operator-token"},
    {"Authorization": f"Bearer {OPERATOR}x"},
    {"Authorization": f"Basic {OPERATOR}"},
    {"Authorization": OPERATOR},
], ids=["none", "wrong", "longer", "basic", "no-scheme"])
async def test_the_operator_api_refuses_a_missing_or_wrong_token(client: httpx.AsyncClient, admin: asyncpg.Pool,
                                                                  headers: dict[str, str]) -> None:
    tenant = new_tenant_id()

    created = await client.post("/admin/v1/tenants", json={"tenant_id": tenant, "name": "x"}, headers=headers)
    listed = await client.get(f"/admin/v1/tenants/{tenant}/api-keys", headers=headers)

    assert_unauthenticated(created)
    assert_unauthenticated(listed)
    assert await admin.fetchval("SELECT count(*) FROM share_ingest.tenants WHERE tenant_id = $1", tenant) == 0


async def test_without_an_operator_token_configured_the_operator_api_is_off(admin: asyncpg.Pool) -> None:
    tenant = new_tenant_id()
    async with serving(operator_token=None) as off:
        for headers in ({}, AS_OPERATOR, {"Authorization": "Bearer "}):
            r = await off.post("/admin/v1/tenants", json={"tenant_id": tenant, "name": "x"}, headers=headers)

            assert r.status_code == 403, r.text
            assert r.json()["error"] == "operator_api_disabled"

    assert await admin.fetchval("SELECT count(*) FROM share_ingest.tenants WHERE tenant_id = $1", tenant) == 0


async def test_a_tenant_is_created_once_with_its_key_shown_once(client: httpx.AsyncClient,
                                                                admin: asyncpg.Pool) -> None:
    tenant = new_tenant_id()

    first = await client.post("/admin/v1/tenants", json={"tenant_id": tenant, "name": "Acme Shop"},
                              headers=AS_OPERATOR)
    again = await client.post("/admin/v1/tenants", json={"tenant_id": tenant, "name": "Acme Shop"},
                              headers=AS_OPERATOR)
    listed = await client.get(f"/admin/v1/tenants/{tenant}/api-keys", headers=AS_OPERATOR)

    assert first.status_code == 201, first.text
    issued = first.json()
    assert (issued["tenant_id"], issued["previous_keys_expire_at"]) == (tenant, None)
    assert issued["api_key"].startswith(f"ksk_{issued['key_id']}.")
    assert (again.status_code, again.json()["error"]) == (409, "tenant_exists")
    assert "api_key" not in again.text and issued["api_key"] not in again.text
    secret = issued["api_key"].partition(".")[2]
    assert secret not in listed.text
    row = await admin.fetchrow("SELECT tenant_id, secret_hash FROM share_ingest.api_keys WHERE key_id = $1",
                               issued["key_id"])
    assert row["tenant_id"] == tenant
    assert secret.encode() not in row["secret_hash"] and row["secret_hash"].hex() not in issued["api_key"]
    assert await admin.fetchval("SELECT count(*) FROM share_ingest.api_keys WHERE tenant_id = $1", tenant) == 1
    # The tenant gets its default campaign, so its first share needs no setup.
    assert (await share(client, bearer(issued["api_key"]))).status_code == 201


async def test_the_issued_key_records_as_its_tenant(client: httpx.AsyncClient, admin: asyncpg.Pool) -> None:
    issued = await create_tenant(client)

    r = await share(client, bearer(issued["api_key"]))

    assert r.status_code == 201, r.text
    owner = await admin.fetchval("SELECT tenant_id FROM share_ingest.shares WHERE share_id = $1",
                                 uuid.UUID(r.json()["share_id"]))
    assert owner == issued["tenant_id"]


@pytest.mark.parametrize("authorization", [
    None,
    "Bearer",
    "Bearer ",
    "Bearer garbled",
    "Bearer ksk_",
    "Bearer ksk_0123456789abcdef.not-a-real-secret",
    "Bearer ksk_" + "a" * 16 + "." + "s" * 300,
    "Basic dXNlcjpwYXNz",
], ids=["none", "bearer-only", "bearer-blank", "garbled", "prefix-only", "unknown-id", "too-long", "basic"])
async def test_a_missing_unknown_or_garbled_key_is_a_401(client: httpx.AsyncClient, admin: asyncpg.Pool,
                                                         authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    share_id = str(uuid.uuid4())

    r = await share(client, headers, share_id=share_id)

    assert_unauthenticated(r)
    assert await admin.fetchval("SELECT count(*) FROM share_ingest.shares WHERE share_id = $1",
                                uuid.UUID(share_id)) == 0
    assert_unauthenticated(await client.get(f"/v1/shares/{uuid.uuid4()}", headers=headers))


async def test_a_known_key_id_with_the_wrong_secret_is_a_401(client: httpx.AsyncClient, admin: asyncpg.Pool) -> None:
    issued = await create_tenant(client)
    forged = f"ksk_{issued['key_id']}.{'A' * 43}"

    r = await share(client, bearer(forged))

    assert_unauthenticated(r)
    assert await count(admin, "shares", issued["tenant_id"]) == 0


# --- rotation and revocation ------------------------------------------------------------------

async def test_after_rotation_both_keys_work_during_the_grace_period(client: httpx.AsyncClient) -> None:
    issued = await create_tenant(client)
    tenant = issued["tenant_id"]

    before = datetime.now(timezone.utc)
    r = await client.post(f"/admin/v1/tenants/{tenant}/api-keys", headers=AS_OPERATOR)
    after = datetime.now(timezone.utc)

    assert r.status_code == 201, r.text
    rotated = r.json()
    assert rotated["tenant_id"] == tenant and rotated["key_id"] != issued["key_id"]
    expires = datetime.fromisoformat(rotated["previous_keys_expire_at"])
    assert before + timedelta(seconds=GRACE_S) <= expires <= after + timedelta(seconds=GRACE_S)
    assert await works(client, rotated["api_key"])
    assert await works(client, issued["api_key"])
    keys = {k["key_id"]: k for k in (await client.get(f"/admin/v1/tenants/{tenant}/api-keys",
                                                      headers=AS_OPERATOR)).json()}
    assert datetime.fromisoformat(keys[issued["key_id"]]["expires_at"]) == expires
    assert keys[rotated["key_id"]]["expires_at"] is None


async def test_with_no_grace_period_the_old_key_stops_working_at_rotation(infra: Any) -> None:
    async with serving(key_grace_period_s=0, key_cache_s=0) as strict:
        issued = await create_tenant(strict)
        assert await works(strict, issued["api_key"])

        r = await strict.post(f"/admin/v1/tenants/{issued['tenant_id']}/api-keys", headers=AS_OPERATOR)

        assert r.status_code == 201, r.text
        assert await works(strict, r.json()["api_key"])
        assert_unauthenticated(await share(strict, bearer(issued["api_key"])))


async def test_rotating_an_unknown_tenant_is_a_404(client: httpx.AsyncClient) -> None:
    r = await client.post(f"/admin/v1/tenants/{new_tenant_id()}/api-keys", headers=AS_OPERATOR)

    assert (r.status_code, r.json()["error"]) == (404, "unknown_tenant")


async def test_a_revoked_key_stops_working_at_once_and_the_others_keep_working(client: httpx.AsyncClient) -> None:
    issued = await create_tenant(client)
    tenant = issued["tenant_id"]
    rotated = (await client.post(f"/admin/v1/tenants/{tenant}/api-keys", headers=AS_OPERATOR)).json()
    assert await works(client, issued["api_key"])

    r = await client.delete(f"/admin/v1/tenants/{tenant}/api-keys/{issued['key_id']}", headers=AS_OPERATOR)

    assert r.status_code == 204 and r.content == b""
    assert_unauthenticated(await share(client, bearer(issued["api_key"])))
    assert await works(client, rotated["api_key"])
    again = await client.delete(f"/admin/v1/tenants/{tenant}/api-keys/{issued['key_id']}", headers=AS_OPERATOR)
    assert (again.status_code, again.json()["error"]) == (404, "unknown_key")
    listed = (await client.get(f"/admin/v1/tenants/{tenant}/api-keys", headers=AS_OPERATOR)).json()
    assert [k["revoked_at"] is not None for k in listed] == [True, False]


async def test_a_tenants_key_cannot_be_revoked_through_another_tenant(client: httpx.AsyncClient) -> None:
    mine, other = await create_tenant(client), await create_tenant(client)

    r = await client.delete(f"/admin/v1/tenants/{other['tenant_id']}/api-keys/{mine['key_id']}",
                            headers=AS_OPERATOR)

    assert (r.status_code, r.json()["error"]) == (404, "unknown_key")
    assert await works(client, mine["api_key"])


async def test_listing_keys_never_shows_a_secret_or_its_hash(client: httpx.AsyncClient) -> None:
    issued = await create_tenant(client)
    tenant = issued["tenant_id"]
    rotated = (await client.post(f"/admin/v1/tenants/{tenant}/api-keys", headers=AS_OPERATOR)).json()

    r = await client.get(f"/admin/v1/tenants/{tenant}/api-keys", headers=AS_OPERATOR)

    assert r.status_code == 200, r.text
    assert [sorted(k) for k in r.json()] == [["created_at", "expires_at", "key_id", "revoked_at"]] * 2
    assert [k["key_id"] for k in r.json()] == [issued["key_id"], rotated["key_id"]]
    for token in (issued["api_key"], rotated["api_key"]):
        assert token.partition(".")[2] not in r.text


# --- the CLI ----------------------------------------------------------------------------------

async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "share_ingest.admin", *args, cwd=ROOT, env=dict(os.environ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_the_cli_creates_a_tenant_whose_key_works(client: httpx.AsyncClient) -> None:
    tenant = new_tenant_id()

    code, out, err = await run_cli("create-tenant", tenant, "Acme Shop")

    assert code == 0, err
    issued = json.loads(out)
    assert issued["tenant_id"] == tenant
    assert (await share(client, bearer(issued["api_key"]))).status_code == 201
    code, out, err = await run_cli("create-tenant", tenant, "Acme Shop")
    assert code == 1 and "exists already" in err and out == ""


async def test_the_cli_rotates_and_revokes_keys(client: httpx.AsyncClient) -> None:
    issued = await create_tenant(client)
    tenant = issued["tenant_id"]

    code, out, err = await run_cli("rotate-key", tenant)
    assert code == 0, err
    rotated = json.loads(out)
    assert await works(client, rotated["api_key"]) and await works(client, issued["api_key"])

    code, out, err = await run_cli("revoke-key", tenant, issued["key_id"])
    assert code == 0, err
    assert not await works(client, issued["api_key"])
    assert await works(client, rotated["api_key"])
    assert (await run_cli("rotate-key", new_tenant_id()))[0] == 1


# --- isolation --------------------------------------------------------------------------------

async def test_a_tenant_cannot_see_or_touch_another_tenants_data(client: httpx.AsyncClient,
                                                                 admin: asyncpg.Pool) -> None:
    tenant_a = new_tenant_id()
    a = await register_tenant(client, tenant_a, OPERATOR)
    b = await register_tenant(client, new_tenant_id(), OPERATOR)
    shared = (await share(client, a)).json()
    conversion_id = str(uuid.uuid4())
    r = await client.post("/v1/conversions", headers=a, json={
        "conversion_id": conversion_id, "customer_id": "ben", "kind": "purchase", "amount_minor": 4999,
        "referral_code": shared["referral_code"]})
    assert r.status_code == 202, r.text
    seen_by_a = (await client.get(f"/v1/conversions/{conversion_id}", headers=a)).json()

    share_b = await client.get(f"/v1/shares/{shared['share_id']}", headers=b)
    conversion_b = await client.get(f"/v1/conversions/{conversion_id}", headers=b)
    refund_b = await client.post("/v1/refunds", headers=b, json={
        "refund_id": str(uuid.uuid4()), "conversion_id": conversion_id, "amount_minor": 4999})
    click_b = await client.post("/v1/clicks", headers=b, json={
        "referral_code": shared["referral_code"], "visitor_id": "v-1", "user_agent": "Mozilla/5.0"})

    assert (share_b.status_code, share_b.json()["error"]) == (404, "not_found")
    assert (conversion_b.status_code, conversion_b.json()["error"]) == (404, "not_found")
    assert (refund_b.status_code, refund_b.json()["error"]) == (404, "unknown_conversion")
    assert (click_b.status_code, click_b.json()["error"]) == (422, "unknown_referral_code")
    assert (await client.get(f"/v1/shares/{shared['share_id']}", headers=a)).json() == shared
    assert (await client.get(f"/v1/conversions/{conversion_id}", headers=a)).json() == seen_by_a
    assert await count(admin, "refunds", tenant_a) == 0 and await count(admin, "clicks", tenant_a) == 0
    assert await admin.fetchval("SELECT count(*) FROM share_ingest.refunds WHERE conversion_id = $1",
                                uuid.UUID(conversion_id)) == 0


# --- rate limit -------------------------------------------------------------------------------

async def test_a_tenant_over_its_rate_is_told_to_retry_later_and_others_are_not(tight: httpx.AsyncClient) -> None:
    busy = await register_tenant(tight, new_tenant_id(), OPERATOR)
    quiet = await register_tenant(tight, new_tenant_id(), OPERATOR)

    answers = [await tight.get(f"/v1/shares/{uuid.uuid4()}", headers=busy) for _ in range(4)]
    other = await tight.get(f"/v1/shares/{uuid.uuid4()}", headers=quiet)

    assert [r.status_code for r in answers] == [404, 404, 404, 429]
    refused = answers[3]
    assert refused.headers["content-type"] == "application/json"
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["detail"]["retry_after_s"] == int(refused.headers["retry-after"])
    assert other.status_code == 404


async def test_a_batch_pays_one_token_per_item(tight: httpx.AsyncClient, admin: asyncpg.Pool) -> None:
    tenant = new_tenant_id()
    item = {"type": "share", "sharer_id": "anna", "channel": "email"}
    headers = await register_tenant(tight, tenant, OPERATOR)

    batch = await tight.post("/v1/events:batch", json={"events": [item] * 3}, headers=headers)
    next_request = await tight.get(f"/v1/shares/{uuid.uuid4()}", headers=headers)
    too_big = await tight.post("/v1/events:batch", json={"events": [item] * 5}, headers=headers)

    assert batch.status_code == 200 and batch.json()["accepted"] == 3
    assert next_request.status_code == 429 and next_request.json()["error"] == "rate_limited"
    assert too_big.status_code == 429
    assert await count(admin, "shares", tenant) == 3


async def test_a_batch_larger_than_the_burst_is_told_it_can_never_fit(tight: httpx.AsyncClient,
                                                                      admin: asyncpg.Pool) -> None:
    tenant = new_tenant_id()
    item = {"type": "share", "sharer_id": "anna", "channel": "email"}
    headers = await register_tenant(tight, tenant, OPERATOR)

    too_big = await tight.post("/v1/events:batch", json={"events": [item] * 4}, headers=headers)

    assert too_big.status_code == 429 and too_big.json()["error"] == "rate_limited"
    assert await count(admin, "shares", tenant) == 0
    assert int(too_big.headers["retry-after"]) >= 3600  # waiting does not help: send fewer at once


# --- body size --------------------------------------------------------------------------------

async def test_a_body_over_the_limit_is_refused_before_anything_is_written(tight: httpx.AsyncClient,
                                                                           admin: asyncpg.Pool) -> None:
    tenant = new_tenant_id()
    headers = await register_tenant(tight, tenant, OPERATOR)

    big = await share(tight, headers, message_variant="x" * 2048)
    big_batch = await tight.post("/v1/events:batch", headers=headers, json={
        "events": [{"type": "share", "sharer_id": f"s{i}", "channel": "email"} for i in range(40)]})
    fits = await share(tight, headers, message_variant="summer-a")

    assert len(big.request.content) > 2048
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/json"
    assert big.json() == {"error": "payload_too_large", "detail": {"limit_bytes": 1024}}
    assert big_batch.status_code == 413 and big_batch.json()["error"] == "payload_too_large"
    assert fits.status_code == 201, fits.text
    assert await count(admin, "shares", tenant) == 1


async def test_a_chunked_body_over_the_limit_is_a_413_too(tight: httpx.AsyncClient, admin: asyncpg.Pool) -> None:
    tenant = new_tenant_id()
    headers = await register_tenant(tight, tenant, OPERATOR)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"sharer_id": "anna", "channel": "email", "message_variant": "'
        for _ in range(4):
            yield b"x" * 512
        yield b'"}'

    r = await tight.post("/v1/shares", content=chunks(), headers={**headers, "Content-Type": "application/json"})

    assert "content-length" not in r.request.headers
    assert await count(admin, "shares", tenant) == 0
    assert (r.status_code, r.json()["error"]) == (413, "payload_too_large")
