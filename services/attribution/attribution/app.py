"""attribution's composition root."""
from __future__ import annotations

import asyncio
from pathlib import Path

import uvloop

from attribution.analytics_handlers import consume_analytics
from attribution.config import Settings
from attribution.handlers import Attribution
from kaskade_contracts import topics
from kaskade_contracts.events import (CampaignDefined, ConversionRecorded, CustomerErased, LinkClicked, RefundRecorded,
                                      ShareRecorded)
from kaskade_platform.runtime import ServiceRuntime

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> ServiceRuntime:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="attribution", migrations_dir=MIGRATIONS,
                             topics=(topics.CAMPAIGNS, topics.ERASURES, topics.SHARES, topics.CLICKS, topics.CONVERSIONS,
                                     topics.ATTRIBUTIONS))
    attribution = Attribution(hold_grace_s=settings.hold_grace_s, refund_hold_s=settings.refund_hold_s)
    # One subscription, so a share and the conversion it enables are never applied out of order
    # by two concurrent transactions of this instance.
    runtime.consume([topics.CAMPAIGNS, topics.ERASURES, topics.SHARES, topics.CLICKS, topics.CONVERSIONS], {
        CampaignDefined: attribution.on_campaigns,
        CustomerErased: attribution.on_erasures,
        ShareRecorded: attribution.on_shares,
        LinkClicked: attribution.on_clicks,
        ConversionRecorded: attribution.on_conversions,
        RefundRecorded: attribution.on_refunds,
    })
    runtime.every(settings.hold_sweep_interval_s, attribution.sweep_held)
    # The viral analytics read models: a consumer group of their own, so they never hold attribution up.
    consume_analytics(runtime)
    return runtime


def main() -> None:
    uvloop.install()
    asyncio.run(build().run_until_signalled())
