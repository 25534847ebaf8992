"""notification's subscribers: campaign settings, contacts, erasure, and reward events that become
feed entries and email jobs in the consumer's transaction. Sending is separate (mail/loop.py)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import CampaignDefined, CustomerErased, CustomerProfileUpdated
from kaskade_platform.outbox import Outbox
from notification import domain, repo
from notification.mail import repo as mail_repo
from notification.webhooks import domain as webhook_domain, repo as webhook_repo


async def on_campaigns(conn: asyncpg.Connection, facts: list[Envelope[CampaignDefined]]) -> list[Envelope[Any]]:
    await repo.upsert_campaigns(conn, facts)
    return []


async def on_profiles(conn: asyncpg.Connection, facts: list[Envelope[CustomerProfileUpdated]]) -> list[Envelope[Any]]:
    await repo.upsert_contacts(conn, facts)
    await mail_repo.wake_jobs(conn, [(f.tenant_id, f.payload.customer_id) for f in facts])
    return []


async def on_erasures(conn: asyncpg.Connection, facts: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
    for e in facts:
        await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id, e.occurred_at)
        await webhook_repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
        await Outbox.forget(conn, e.tenant_id, e.payload.customer_id)
    return []


def reward_handler(contact_wait: timedelta) -> Callable[[asyncpg.Connection, list[Envelope[Any]]],
                                                         Awaitable[list[Envelope[Any]]]]:
    """The handler of the reward topic; an email job whose recipient has no contact yet waits up
    to `contact_wait` for one."""

    async def on_rewards(conn: asyncpg.Connection, facts: list[Envelope[Any]]) -> list[Envelope[Any]]:
        return await _on_rewards(conn, facts, contact_wait)
    return on_rewards


async def _on_rewards(conn: asyncpg.Connection, facts: list[Envelope[Any]],
                      contact_wait: timedelta) -> list[Envelope[Any]]:
    """Every event on the reward topic becomes a webhook delivery for each of the tenant's endpoints
    that subscribed to it. RewardGranted, RewardConfirmed and RewardRevoked also become a feed entry
    for their recipient, plus an email job when the campaign sends email."""
    # Bodies are built only for events some endpoint subscribed to: a tenant that reads the reward
    # topic itself has none, and building one cost notification a sixth of its CPU per reward.
    wanted = await webhook_repo.subscriptions(conn, {e.tenant_id for e in facts})
    await webhook_repo.add_deliveries(conn, [webhook_repo.NewDelivery(
        e.tenant_id, e.event_id, kind, getattr(e.payload, "recipient_id", None),
        webhook_domain.payload(e.event_type, e.occurred_at, {"event_id": str(e.event_id),
                                                             **e.payload.model_dump(mode="json")}))
        for e in facts if (e.tenant_id, kind := webhook_domain.EVENT_TYPES[e.event_type]) in wanted])
    facts = [e for e in facts if isinstance(e.payload, domain.CUSTOMER_FACING)]
    if not facts:
        return []
    email = await repo.email_enabled(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
    notes = [n for e in facts for n in domain.for_reward(
        e.tenant_id, e.event_id, e.payload, email.get((e.tenant_id, e.payload.campaign_id), True))]
    await repo.record(conn, notes)
    await mail_repo.add_jobs(conn, notes, contact_wait)
    return []
