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

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope as SmtpEnvelope, Session

from notification.app import NotificationRuntime, build
from notification.config import Settings


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
}


@dataclass
class Service:
    client: httpx.AsyncClient
    runtime: NotificationRuntime
    settings: Settings


@pytest.fixture(scope="module")
async def service(infra: Any, inbox: Inbox) -> AsyncIterator[Service]:
    settings = Settings(**{**TEST_SETTINGS, "smtp_port": inbox.port})
    app, runtime = build(settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://notification.test") as client:
        yield Service(client, runtime, settings)


@pytest.fixture
def tenant() -> str:
    return f"nt-{uuid.uuid4().hex[:10]}"
