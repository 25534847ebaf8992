"""reward's composition root."""
from __future__ import annotations

import asyncio
from pathlib import Path

import uvloop

from kaskade_contracts import topics
from kaskade_contracts.events import (AttributionReversed, CampaignDefined, ConversionAttributed, CustomerErased,
                                      ShareRecorded)
from kaskade_platform.runtime import ServiceRuntime
from reward.clock import Clock, SystemClock
from reward.config import Settings
from reward.handlers import Rewards

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None, clock: Clock | None = None) -> ServiceRuntime:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="reward", migrations_dir=MIGRATIONS,
                             topics=(topics.CAMPAIGNS, topics.ERASURES, topics.ATTRIBUTIONS, topics.SHARES,
                                     topics.REWARDS))
    rewards = Rewards(settings, clock or SystemClock())
    # One subscription, so a campaign change and the attributions after it are applied by one
    # loop, never by two concurrent transactions.
    runtime.consume([topics.CAMPAIGNS, topics.ERASURES, topics.ATTRIBUTIONS, topics.SHARES], {
        CampaignDefined: rewards.on_campaigns, CustomerErased: rewards.on_erasures,
        ConversionAttributed: rewards.on_attributed, AttributionReversed: rewards.on_reversed,
        ShareRecorded: rewards.on_shares})
    runtime.every(settings.confirm_interval_s, rewards.confirm_due)
    return runtime


def main() -> None:
    uvloop.install()
    asyncio.run(build().run_until_signalled())
