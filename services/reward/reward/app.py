"""reward's composition root."""
from __future__ import annotations

import asyncio
from pathlib import Path

import uvloop

from kaskade_contracts import topics
from kaskade_contracts.events import ConversionAttributed
from kaskade_platform.runtime import ServiceRuntime
from reward.config import Settings
from reward.handlers import Rewards

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> ServiceRuntime:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="reward", migrations_dir=MIGRATIONS,
                             topics=(topics.ATTRIBUTIONS, topics.REWARDS))
    runtime.consume([topics.ATTRIBUTIONS], {ConversionAttributed: Rewards(settings).on_attributed})
    return runtime


def main() -> None:
    uvloop.install()
    asyncio.run(build().run_until_signalled())
