"""Stand-ins for the outside world the demo talks to: a mail server that keeps what it receives,
and a tenant's webhook endpoint that checks each delivery's Standard Webhooks signature."""
from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Mail:
    to: str
    subject: str
    language: str
    unsubscribe: str


class MailSink:
    """An SMTP server on 127.0.0.1:`port` (in a thread of its own) that keeps every message."""

    def __init__(self, port: int) -> None:
        self.port, self.mails = port, []
        self._controller = Controller(self, hostname="127.0.0.1", port=port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append(Mail(to=", ".join(envelope.rcpt_tos), subject=str(msg["subject"]),
                               language=str(msg.get("content-language", "")),
                               unsubscribe=str(msg.get("list-unsubscribe-post", ""))))
        return "250 OK"

    def __enter__(self) -> MailSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


@dataclass
class Delivery:
    webhook_id: str
    event_type: str
    verified: bool
    body: dict[str, Any] = field(default_factory=dict)


class WebhookSink:
    """A tenant's endpoint on 127.0.0.1:`port`; set `secret` once the endpoint is registered."""

    def __init__(self, port: int) -> None:
        self.port, self.secret, self.deliveries = port, "", []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/kaskade"

    async def _receive(self, request: web.Request) -> web.Response:
        raw, headers = await request.read(), dict(request.headers)
        try:
            body, verified = Webhook(self.secret).verify(raw, headers), True
        except WebhookVerificationError:
            body, verified = {}, False
        self.deliveries.append(Delivery(headers.get("webhook-id", ""), body.get("type", "?"), verified, body))
        return web.Response(status=204)

    async def __aenter__(self) -> WebhookSink:
        app = web.Application()
        app.router.add_post("/hooks/kaskade", self._receive)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()
