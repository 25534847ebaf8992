"""reward's composition root."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from kaskade_contracts import topics
from kaskade_contracts.events import (AttributionReversed, CampaignDefined, ConversionAttributed, CustomerErased,
                                      ReferralReparented, ShareRecorded)
from kaskade_platform import tenantauth
from kaskade_platform.runtime import ServiceRuntime
from kaskade_platform.webapp import serve, service_app
from reward.api import build_router
from reward.clock import Clock, SystemClock
from reward.config import Settings
from reward.handlers import Rewards

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="reward", migrations_dir=MIGRATIONS,
                             topics=(topics.TENANTS, topics.CAMPAIGNS, topics.ERASURES, topics.ATTRIBUTIONS,
                                     topics.SHARES, topics.REWARDS))
    rewards = Rewards(settings, clock or SystemClock())
    # One subscription, so a campaign change and the attributions after it are applied by one
    # loop, never by two concurrent transactions.
    runtime.consume([topics.TENANTS, topics.CAMPAIGNS, topics.ERASURES, topics.ATTRIBUTIONS, topics.SHARES], {
        **tenantauth.HANDLERS,
        CampaignDefined: rewards.on_campaigns, CustomerErased: rewards.on_erasures,
        ConversionAttributed: rewards.on_attributed, AttributionReversed: rewards.on_reversed,
        ReferralReparented: rewards.on_reparented, ShareRecorded: rewards.on_shares})
    # Time-driven: the hold ends by the injected clock.
    runtime.every(settings.confirm_interval_s, rewards.confirm_due)
    return runtime


def build_app(settings: Settings | None = None, clock: Clock | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """The service with its tenant API (rewards, balances, budgets) around it."""
    settings = settings or Settings()
    runtime = build(settings, clock)
    app = service_app(runtime, title="Kaskade reward",
                      description="Rewards, balances and campaign budgets from reward's double-entry ledger. "
                                  "Tenant endpoints take `Authorization: Bearer <api key>`.")
    pool = lambda: runtime.pool  # noqa: E731 - the pool exists once the lifespan has started
    app.include_router(build_router(tenantauth.TenantAuth.from_settings(settings, pool), pool))
    return app, runtime


def main() -> None:
    settings = Settings()
    app, _ = build_app(settings)
    serve(app, settings)
