"""notification's composition root: consumers, the delivery loops, the HTTP API."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from kaskade_contracts import topics
from kaskade_contracts.events import (CampaignBudgetExhausted, CampaignBudgetWarning, CampaignDefined,
                                      CustomerErased, CustomerProfileUpdated, RewardConfirmed, RewardDeclined,
                                      RewardGranted, RewardRevoked)
from kaskade_platform import tenantauth
from kaskade_platform.runtime import ServiceRuntime
from kaskade_platform.tasks import cancel_and_wait
from kaskade_platform.webapp import serve, service_app
from notification import retention
from notification.api import build_feed_router, build_webhook_router
from notification.config import Settings
from notification.handlers import on_campaigns, on_erasures, on_profiles, reward_handler
from notification.mail.loop import EmailDelivery
from notification.unsubscribe import build_unsubscribe_router
from notification.webhooks.loop import WebhookDelivery

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class NotificationRuntime(ServiceRuntime):
    """The platform runtime plus the delivery loops, which start after it and stop before it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, schema="notification", migrations_dir=MIGRATIONS,
                         topics=(topics.TENANTS, topics.CAMPAIGNS, topics.CUSTOMERS, topics.ERASURES,
                                 topics.REWARDS, topics.NOTIFICATIONS))
        self.email = EmailDelivery(settings, lambda: self.pool)
        self.webhooks = WebhookDelivery(settings, lambda: self.pool, self.outbox)
        self._loops: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await super().start()
        self._loops = [asyncio.create_task(self.email.run(), name="email-delivery"),
                       asyncio.create_task(self.webhooks.run(), name="webhook-delivery")]

    async def stop(self) -> None:
        # Cancelled again only after 5 s: each loop's `finally` first cancels and awaits its deliveries in flight.
        await cancel_and_wait(*self._loops, every_s=5.0)
        await self.email.mailer.close()
        await super().stop()


def build(settings: Settings | None = None) -> tuple[FastAPI, NotificationRuntime]:
    settings = settings or Settings()
    runtime = NotificationRuntime(settings)
    runtime.every(settings.purge_interval_s, retention.purge(settings))
    runtime.every(settings.webhook_reseal_interval_s, runtime.webhooks.reseal)
    on_rewards = reward_handler(timedelta(seconds=settings.email_contact_wait_s))
    consumer = runtime.consume([topics.TENANTS, topics.CAMPAIGNS, topics.CUSTOMERS, topics.ERASURES, topics.REWARDS], {
        **tenantauth.HANDLERS, CampaignDefined: on_campaigns, CustomerProfileUpdated: on_profiles,
        CustomerErased: on_erasures, **{t: on_rewards for t in (RewardGranted, RewardConfirmed, RewardRevoked,
                                                                RewardDeclined, CampaignBudgetWarning,
                                                                CampaignBudgetExhausted)}})
    # The jobs and deliveries a batch writes start once it commits; the loops' polls pick up the rest.
    consumer.on_applied += [runtime.email.wake, runtime.webhooks.wake]
    app = service_app(runtime, title="Kaskade notification",
                      description="Customer emails (with one-click unsubscribe), signed webhooks to tenants and "
                                  "the in-app feed. Tenant endpoints take `Authorization: Bearer <api key>`.")
    pool = lambda: runtime.pool  # noqa: E731 - the pool exists once the lifespan has started
    auth = tenantauth.TenantAuth.from_settings(settings, pool)
    app.include_router(build_webhook_router(auth, pool, settings, runtime.webhooks.wake))
    app.include_router(build_feed_router(auth, pool))
    app.include_router(build_unsubscribe_router(settings, pool))
    return app, runtime


def main() -> None:
    settings = Settings()
    app, _ = build(settings)
    serve(app, settings)
