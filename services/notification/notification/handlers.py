"""notification's subscribers: campaign settings, contacts, erasure, and reward events that become
feed entries and email jobs in the consumer's transaction. Sending is separate (mail/loop.py)."""
from __future__ import annotations

from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import CampaignDefined, CustomerErased, CustomerProfileUpdated
from kaskade_platform.outbox import Outbox
from notification import domain, repo
from notification.mail import repo as mail_repo


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


async def on_rewards(conn: asyncpg.Connection, facts: list[Envelope[domain.RewardFact]]) -> list[Envelope[Any]]:
    """RewardGranted, RewardConfirmed and RewardRevoked: one feed entry per recipient and event,
    plus an email job when the campaign sends email."""
    email = await repo.email_enabled(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
    notes = [n for e in facts for n in domain.for_reward(
        e.tenant_id, e.event_id, e.payload, email.get((e.tenant_id, e.payload.campaign_id), True))]
    await repo.record(conn, notes)
    await mail_repo.add_jobs(conn, notes)
    return []
