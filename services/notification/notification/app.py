"""notification's composition root."""
from __future__ import annotations

import asyncio
from pathlib import Path

import uvloop

from kaskade_contracts import topics
from kaskade_contracts.events import CampaignDefined, CustomerErased, CustomerProfileUpdated, RewardGranted
from kaskade_platform.runtime import ServiceRuntime
from notification.config import Settings
from notification.handlers import on_campaigns, on_erasures, on_profiles, on_reward_granted

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> ServiceRuntime:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="notification", migrations_dir=MIGRATIONS,
                             topics=(topics.CAMPAIGNS, topics.CUSTOMERS, topics.ERASURES, topics.REWARDS))
    runtime.consume([topics.CAMPAIGNS, topics.CUSTOMERS, topics.ERASURES, topics.REWARDS], {
        CampaignDefined: on_campaigns, CustomerProfileUpdated: on_profiles, CustomerErased: on_erasures,
        RewardGranted: on_reward_granted})
    return runtime


def main() -> None:
    uvloop.install()
    asyncio.run(build().run_until_signalled())
