"""attribution's composition root."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from attribution.api import build_router
from attribution.analytics_api import build_analytics_router
from attribution.analytics_handlers import consume_analytics
from attribution.config import Settings
from attribution.handlers import Attribution
from kaskade_contracts import topics
from kaskade_contracts.events import (CampaignDefined, ConversionRecorded, CustomerErased, LinkClicked, RefundRecorded,
                                      ShareRecorded)
from kaskade_platform import tenantauth
from kaskade_platform.recent import RecentEnvelopes
from kaskade_platform.runtime import ServiceRuntime
from kaskade_platform.webapp import serve, service_app

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> ServiceRuntime:
    settings = settings or Settings()
    both = settings.decisions and settings.analytics and settings.recent_envelopes > 0
    runtime = ServiceRuntime(settings, schema="attribution", migrations_dir=MIGRATIONS,
                             topics=(topics.TENANTS, topics.CAMPAIGNS, topics.ERASURES, topics.SHARES, topics.CLICKS,
                                     topics.CONVERSIONS, topics.ATTRIBUTIONS),
                             recent=RecentEnvelopes(settings.recent_envelopes) if both else None)
    if settings.decisions:
        attribution = Attribution(hold_grace_s=settings.hold_grace_s, refund_hold_s=settings.refund_hold_s)
        # One subscription, so a share and the conversion it enables are never applied out of order
        # by two concurrent transactions of this instance.
        runtime.consume([topics.TENANTS, topics.CAMPAIGNS, topics.ERASURES, topics.SHARES, topics.CLICKS,
                         topics.CONVERSIONS], {
            **tenantauth.HANDLERS,
            CampaignDefined: attribution.on_campaigns,
            CustomerErased: attribution.on_erasures,
            ShareRecorded: attribution.on_shares,
            LinkClicked: attribution.on_clicks,
            ConversionRecorded: attribution.on_conversions,
            RefundRecorded: attribution.on_refunds,
        })
        runtime.every(settings.hold_sweep_interval_s, attribution.sweep_held)
    if settings.analytics:
        # The viral analytics read models: a consumer group of their own, so they never hold attribution up.
        consume_analytics(runtime, group_id=f"{settings.service_name}-analytics",
                          fetch_min_bytes=settings.analytics_fetch_min_bytes,
                          fetch_max_wait_ms=settings.analytics_fetch_max_wait_ms)
    return runtime


def build_app(settings: Settings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    """The service with its tenant API (cascade, fraud review, analytics) around it."""
    settings = settings or Settings()
    runtime = build(settings)
    app = service_app(runtime, title="Kaskade attribution",
                      description="Who referred whom: the referral cascade of a seeder or a campaign, a "
                                  "customer's upline, referrals refused as fraud, and the viral analytics. "
                                  "Tenant endpoints take `Authorization: Bearer <api key>`.")
    pool = lambda: runtime.pool  # noqa: E731 - the pool exists once the lifespan has started
    auth = tenantauth.TenantAuth.from_settings(settings, pool)
    app.include_router(build_router(auth, pool))
    app.include_router(build_analytics_router(auth, pool))
    return app, runtime


def main() -> None:
    settings = Settings()
    app, _ = build_app(settings)
    serve(app, settings)
