"""notification killed (SIGKILL) while a webhook delivery is in flight: after a restart the
delivery is made again with the same webhook-id, so the receiver can drop the copy, and the
notification is neither lost nor doubled."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web

from kaskade_contracts.customers import ApiKeyChanged
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import RewardGranted, RewardKind, RewardRole
from kaskade_devtools.stack import ROOT, Stack
from kaskade_devtools.testing import produce
from kaskade_platform import apikeys

pytestmark = pytest.mark.e2e


class Endpoint:
    """A tenant's endpoint whose first request hangs (the attempt in flight when notification dies)."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.headers.get("webhook-id", ""))
        if len(self.hits) == 1:
            await asyncio.sleep(3600)
        return web.Response(status=204)


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    box, app = Endpoint(), web.Application()
    app.router.add_post("/hook", box.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    box.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS chose
    yield box
    await runner.cleanup()


async def until(check: Any, what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return found


async def test_a_delivery_in_flight_when_notification_dies_is_made_again_with_the_same_id(
        infra: Any, endpoint: Endpoint, admin: asyncpg.Pool) -> None:
    tenant, key = f"crash-{uuid.uuid4().hex[:8]}", apikeys.mint()
    stack = Stack(log_dir=ROOT / ".local/e2e-logs/crash", http_port=8360, extra_env={
        "KASKADE_NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK": "true", "KASKADE_NOTIFICATION_WEBHOOK_TIMEOUT_S": "60",
        "KASKADE_NOTIFICATION_WEBHOOK_LEASE_S": "3"})
    stack.start("notification")
    try:
        await produce(infra.kafka_bootstrap_servers, [new_envelope(
            ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex()), tenant_id=tenant)])
        auth = {"Authorization": f"Bearer {key.token}"}
        async with httpx.AsyncClient(base_url=stack.url("notification"), headers=auth) as api:
            async def registered() -> Any:
                r = await api.post("/v1/webhooks/endpoints", json={
                    "url": f"http://127.0.0.1:{endpoint.port}/hook", "event_types": ["reward.granted"]})
                return r.json() if r.status_code == 201 else None
            hook = await until(registered, "the API key to reach notification")
            await produce(infra.kafka_bootstrap_servers, [new_envelope(RewardGranted(
                reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default",
                conversion_id=uuid.uuid4(), rule_id="referrer", recipient_id="anna", role=RewardRole.referrer,
                kind=RewardKind.account_credit, amount_minor=500, currency="EUR", generation=1), tenant_id=tenant)])
            await until(lambda: asyncio.sleep(0, result=endpoint.hits), "the first attempt to be in flight")

            stack.kill("notification")  # mid-attempt: nothing about it was recorded
            stack.respawn("notification")
            await asyncio.to_thread(stack.wait_ready, "notification")

            async def delivered() -> Any:
                r = await api.get("/v1/webhooks/deliveries", params={"endpoint_id": hook["endpoint_id"]})
                items = r.json()["items"]
                return items if items and items[0]["status"] == "delivered" else None
            deliveries = await until(delivered, "the delivery to be made again", timeout=60)

        assert len(deliveries) == 1
        assert len(endpoint.hits) == 2 and len(set(endpoint.hits)) == 1  # the receiver can drop the copy
        assert endpoint.hits[0] == deliveries[0]["webhook_id"]
        notes = await admin.fetchval("SELECT count(*) FROM notification.notifications WHERE tenant_id = $1", tenant)
        assert notes == 1
    finally:
        stack.stop()
        await admin.execute("DELETE FROM notification.webhook_attempts a USING notification.webhook_deliveries d "
                            "WHERE a.delivery_id = d.delivery_id AND d.tenant_id = $1", tenant)
        await admin.execute("DELETE FROM notification.webhook_deliveries WHERE tenant_id = $1", tenant)
        await admin.execute("DELETE FROM notification.webhook_endpoints WHERE tenant_id = $1", tenant)
