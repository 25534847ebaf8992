"""notification's subscribers: campaign settings, and reward events that become pending
notifications (sending them is separate, from the database)."""
from __future__ import annotations

from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import CampaignDefined, CustomerErased, CustomerProfileUpdated, RewardGranted
from kaskade_platform.outbox import Outbox
from notification import domain, repo


async def on_campaigns(conn: asyncpg.Connection, facts: list[Envelope[CampaignDefined]]) -> list[Envelope[Any]]:
    await repo.upsert_campaigns(conn, facts)
    return []


async def on_profiles(conn: asyncpg.Connection, facts: list[Envelope[CustomerProfileUpdated]]) -> list[Envelope[Any]]:
    await repo.upsert_contacts(conn, facts)
    return []


async def on_erasures(conn: asyncpg.Connection, facts: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
    for e in facts:
        await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id, e.occurred_at)
        await Outbox.forget(conn, e.tenant_id, e.payload.customer_id)
    return []


async def on_reward_granted(conn: asyncpg.Connection, facts: list[Envelope[RewardGranted]]) -> list[Envelope[Any]]:
    email = await repo.email_enabled(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
    await repo.record(conn, [n for e in facts for n in domain.for_reward_granted(
        e.tenant_id, e.event_id, e.payload, email.get((e.tenant_id, e.payload.campaign_id), True))])
    return []
