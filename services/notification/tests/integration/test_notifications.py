"""notification against real Kafka and Postgres: reward events published straight onto
kaskade.rewards.v1 become pending rows in notification.notifications, once each; what it has no
use for is passed over, and what it cannot read is dead-lettered.

notification emits no events, so its rows are polled; a later reward on the same partition key
(tenant:recipient), once recorded, proves that the events before it were handled too.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import pytest

from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import RewardDeclined, RewardGranted, RewardKind, RewardRole
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def running(service: Any) -> None:
    """The service runs (with its SMTP server) for every test here."""


def granted(tenant: str, recipient: str, role: RewardRole = RewardRole.referrer) -> Envelope[RewardGranted]:
    return new_envelope(RewardGranted(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default", conversion_id=uuid.uuid4(),
        rule_id="referrer-fixed", recipient_id=recipient, role=role, kind=RewardKind.account_credit,
        amount_minor=500, currency="EUR", generation=1), tenant_id=tenant)


async def notes(admin: asyncpg.Pool, tenant: str, *wanted: Envelope[RewardGranted]) -> list[asyncpg.Record]:
    """The tenant's notifications, once every wanted event has its row (or after 30 s)."""
    ids = {e.event_id for e in wanted}
    deadline = time.monotonic() + 30
    while True:
        rows = await admin.fetch("""SELECT recipient_id, channel, template, status, source_event_id, reward_id,
                                           context FROM notification.notifications
                                    WHERE tenant_id = $1 ORDER BY recipient_id""", tenant)
        if ids <= {r["source_event_id"] for r in rows} or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_each_granted_reward_becomes_one_pending_notification(admin: asyncpg.Pool, tenant: str,
                                                                    infra: Any) -> None:
    anna, ben = granted(tenant, "anna"), granted(tenant, "ben", RewardRole.referee)
    await produce(infra.kafka_bootstrap_servers, [anna, ben])

    rows = await notes(admin, tenant, anna, ben)
    assert [(r["recipient_id"], r["channel"], r["template"], r["status"]) for r in rows] == [
        ("anna", "email", "reward_granted_referrer", "pending"),
        ("ben", "email", "welcome_discount_referee", "pending")]
    assert [r["reward_id"] for r in rows] == [anna.payload.reward_id, ben.payload.reward_id]
    assert json.loads(rows[0]["context"]) == {"amount_minor": 500, "currency": "EUR", "campaign_id": "default",
                                  "kind": "account_credit", "reward_id": str(anna.payload.reward_id)}


async def test_a_redelivered_event_is_recorded_once(admin: asyncpg.Pool, tenant: str, infra: Any) -> None:
    event = granted(tenant, "anna")
    await produce(infra.kafka_bootstrap_servers, [event, event])  # twice in one batch
    await notes(admin, tenant, event)
    sentinel = granted(tenant, "anna")
    await produce(infra.kafka_bootstrap_servers, [event, sentinel])  # and again in a later one

    rows = await notes(admin, tenant, sentinel)
    assert sorted(r["source_event_id"] for r in rows) == sorted([event.event_id, sentinel.event_id])


async def test_a_declined_reward_is_passed_over_not_dead_lettered(admin: asyncpg.Pool, tenant: str,
                                                                  infra: Any) -> None:
    declined = new_envelope(RewardDeclined(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default", conversion_id=uuid.uuid4(),
        rule_id="referrer-fixed", recipient_id="anna", role=RewardRole.referrer, amount_minor=500, currency="EUR",
        reason="budget_exhausted"), tenant_id=tenant)
    sentinel = granted(tenant, "anna")
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.dead_letter,),
                            keep=for_tenant(tenant)) as dlq:
        await produce(infra.kafka_bootstrap_servers, [declined, sentinel])
        rows = await notes(admin, tenant, sentinel)
        await asyncio.sleep(1)  # a dead letter is published right after its batch commits

    assert [r["source_event_id"] for r in rows] == [sentinel.event_id]
    assert dlq.seen == []


async def test_garbage_is_dead_lettered_while_its_neighbour_is_recorded(admin: asyncpg.Pool, tenant: str,
                                                                        infra: Any, service: Any) -> None:
    neighbour = granted(tenant, "anna")
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.dead_letter,),
                            keep=for_tenant(tenant)) as dlq:
        await produce(infra.kafka_bootstrap_servers, [
            (topics.REWARDS.name, b"\x00\xffnot an event", {"kaskade-tenant-id": tenant}), neighbour])
        await dlq.wait_for(lambda w: w.seen, 30, "the dead letter")
        rows = await notes(admin, tenant, neighbour)

    (dead,) = dlq.seen
    headers = dict(dead.record.headers)
    assert (headers["kaskade-dlq-reason"], headers["kaskade-dlq-source-topic"]) == (b"undecodable",
                                                                                   topics.REWARDS.name.encode())
    assert headers["kaskade-dlq-consumer-group"] == service.settings.service_name.encode()
    assert dead.record.value == b"\x00\xffnot an event"
    assert [r["source_event_id"] for r in rows] == [neighbour.event_id]
