"""Fixtures for notification's integration tests: a real SMTP server in this process (aiosmtpd),
and the real service (consumer, delivery loops, HTTP API) built with test settings."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import asyncpg
import httpx
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope as SmtpEnvelope, Session

from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import ApiKeyChanged
from kaskade_devtools.testing import produce
from kaskade_platform import apikeys
from notification.app import NotificationRuntime, build
from notification.config import Settings
from notification.webhooks import repo as webhook_repo


@dataclass
class Inbox:
    """Every message the server accepted; `refuse` makes it answer the next DATA for an address
    with a temporary (451) or permanent (550) error."""
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: dict[str, list[str]] = field(default_factory=dict)
    port: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        for rcpt in envelope.rcpt_tos:
            if self.refuse.get(rcpt):
                return self.refuse[rcpt].pop(0)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    async def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        while not (result := predicate()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}; inbox holds {len(self.messages)} messages")
            await asyncio.sleep(0.05)
        return result


@pytest.fixture(scope="module")
async def inbox() -> AsyncIterator[Inbox]:
    box = Inbox()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(box, hostname="inbox.test"),
                                                            "127.0.0.1", 0)
    box.port = server.sockets[0].getsockname()[1]
    yield box
    server.close()


TEST_SETTINGS: dict[str, Any] = {
    "email_poll_interval_s": 0.05, "email_backoff_initial_s": 0.2, "email_backoff_max_s": 1.0,
    "email_contact_wait_s": 10.0, "email_burst": 3, "email_window_s": 5.0, "key_cache_s": 0,
    "public_base_url": "http://notification.test", "mail_domain": "notify.test",
    "webhook_allow_loopback": True, "webhook_timeout_s": 2.0, "webhook_backoff_initial_s": 0.1,
    "webhook_backoff_max_s": 0.5, "webhook_max_attempts": 50,
    "webhook_per_endpoint": 2, "webhook_poll_interval_s": 0.02,
}


@dataclass
class Service:
    client: httpx.AsyncClient
    runtime: NotificationRuntime
    settings: Settings


@pytest.fixture(scope="module")
async def service(request: pytest.FixtureRequest, infra: Any, inbox: Inbox) -> AsyncIterator[Service]:
    """One service per module, with TEST_SETTINGS and the module's own SETTINGS on top."""
    settings = Settings(**{**TEST_SETTINGS, **getattr(request.module, "SETTINGS", {}), "smtp_port": inbox.port})
    app, runtime = build(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://notification.test") as client:
        yield Service(client, runtime, settings)
        # The tests' endpoints point at ports that are gone by now: no later run should keep them.
        async with runtime.pool.acquire() as conn:
            for endpoint_id, t in await conn.fetch("""SELECT endpoint_id, tenant_id FROM webhook_endpoints
                                                     WHERE tenant_id = ANY($1::text[])""", list(TENANTS)):
                for _ in range(3):  # it may collide with attempts being recorded
                    try:
                        await webhook_repo.delete_endpoint(conn, t, endpoint_id)
                        break
                    except asyncpg.DeadlockDetectedError:
                        await asyncio.sleep(0.1)


TENANTS: set[str] = set()  # every tenant a test used, for the clean-up above


@pytest.fixture
def tenant() -> str:
    TENANTS.add(tenant := f"nt-{uuid.uuid4().hex[:10]}")
    return tenant


async def api_key(bootstrap: str, admin: Any, tenant: str) -> dict[str, str]:
    """An API key for the tenant, announced the way share-ingest does (ApiKeyChanged on
    kaskade.tenants.v1); returns the headers once notification has replicated it."""
    TENANTS.add(tenant)
    key = apikeys.mint()
    await produce(bootstrap, [new_envelope(ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex()),
                                           tenant_id=tenant)])
    deadline = time.monotonic() + 30
    while not await admin.fetchval("SELECT true FROM notification.tenant_keys WHERE key_id = $1", key.key_id):
        if time.monotonic() > deadline:
            raise TimeoutError("the API key was not replicated to notification")
        await asyncio.sleep(0.05)
    return {"Authorization": f"Bearer {key.token}"}


@pytest.fixture
async def auth(service: Service, admin: Any, infra: Any, tenant: str) -> dict[str, str]:
    return await api_key(infra.kafka_bootstrap_servers, admin, tenant)


@pytest.fixture
def keys(service: Service, admin: Any, infra: Any) -> Callable[[str], Any]:
    """Makes API keys for further tenants: `await keys(tenant)` gives their headers."""
    return lambda tenant: api_key(infra.kafka_bootstrap_servers, admin, tenant)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server (aiohttp) standing in for tenants' webhook endpoints. Each path answers
    from its script, in order, then 200; a step may wait (`delay`) or hang until `release` is set."""
    port: int = 0
    hits: list[Hit] = field(default_factory=list)
    script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    in_flight: dict[str, int] = field(default_factory=dict)
    max_in_flight: dict[str, int] = field(default_factory=dict)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def at(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.in_flight[path] = self.in_flight.get(path, 0) + 1
        self.max_in_flight[path] = max(self.max_in_flight.get(path, 0), self.in_flight[path])
        try:
            body = await request.read()
            step = self.script.get(path, [{}]).pop(0) if self.script.get(path) else {}
            if step.get("hang"):
                await self.release.wait()
            if step.get("delay"):
                await asyncio.sleep(step["delay"])
            self.hits.append(Hit(path, dict(request.headers), body))
            return web.Response(status=step.get("status", 200), headers=step.get("headers", {}))
        finally:
            self.in_flight[path] -= 1


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver()
    app = web.Application()
    app.router.add_post("/{path}", box.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    box.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS chose
    yield box
    box.release.set()
    await runner.cleanup()
