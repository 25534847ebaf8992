"""Intake: turn RecordShare / RecordConversion commands into stored facts and outbox events.

The same code serves the HTTP routes (one command) and the inbound Kafka topic (a batch).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import ConversionRecorded, RecordConversion, RecordShare, ShareRecorded
from kaskade_platform.consumer import Unprocessable
from kaskade_platform.dedupe import first_of_each_new
from share_ingest import domain, repo
from share_ingest.config import Settings


class CampaignNotUsable(Unprocessable):
    pass


class Intake:
    def __init__(self, settings: Settings) -> None:
        self.secret = settings.code_secret.get_secret_value().encode()
        self.base_url = settings.public_base_url
        self.default_landing_url = settings.default_landing_url

    async def _check_campaigns(self, conn: asyncpg.Connection, commands: Sequence[Envelope[Any]]) -> None:
        await repo.ensure_default_campaigns(conn, [c.tenant_id for c in commands], self.default_landing_url)
        keys = sorted({(c.tenant_id, c.payload.campaign_id) for c in commands})
        statuses = await repo.campaign_statuses(conn, keys)
        for key in keys:
            status = statuses.get(key)
            if status is None:
                raise CampaignNotUsable("unknown_campaign", f"tenant {key[0]!r} has no campaign {key[1]!r}")
            if status != "active":
                raise CampaignNotUsable("campaign_not_active", f"campaign {key[1]!r} is {status}")

    async def record_shares(self, conn: asyncpg.Connection,
                            commands: list[Envelope[RecordShare]]) -> list[Envelope[ShareRecorded]]:
        """Store shares; returns the ShareRecorded facts of those not seen before."""
        await self._check_campaigns(conn, commands)
        facts = [new_envelope(
            domain.share_recorded(c.payload, domain.referral_code(self.secret, c.tenant_id, c.payload.share_id),
                                  self.base_url),
            tenant_id=c.tenant_id, occurred_at=c.occurred_at, causation=c) for c in commands]
        new = await repo.insert_shares(conn, facts)
        return first_of_each_new(facts, lambda f: (f.tenant_id, f.payload.share_id), new)

    async def record_conversions(self, conn: asyncpg.Connection,
                                 commands: list[Envelope[RecordConversion]]) -> list[Envelope[ConversionRecorded]]:
        await self._check_campaigns(conn, commands)
        facts = [new_envelope(domain.conversion_recorded(c.payload), tenant_id=c.tenant_id,
                              occurred_at=c.occurred_at, causation=c) for c in commands]
        new = await repo.insert_conversions(conn, facts)
        return first_of_each_new(facts, lambda f: (f.tenant_id, f.payload.conversion_id), new)
