"""attribution against real Kafka and Postgres: facts published straight onto its input topics,
its verdicts read from kaskade.attributions.v1 and from its own tables.

Every verdict of a tenant's default campaign lands on one partition (key tenant:campaign), so a
later verdict proves that an extra one, had there been one, would already have been seen.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from attribution.app import build
from attribution.config import Settings
from attribution.handlers import Attribution
from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (Channel, ConversionKind, ConversionRecorded, LinkClicked, ShareRecorded)
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce
from kaskade_platform.runtime import ServiceRuntime

pytestmark = pytest.mark.integration
HELD_SQL = "SELECT count(*) FROM attribution.held_conversions WHERE tenant_id = $1 AND conversion_id = $2"


@pytest.fixture(scope="module")
async def runtime(infra: Any) -> AsyncIterator[ServiceRuntime]:
    rt = build(Settings())
    await rt.start()
    yield rt
    await rt.stop()


class Tenant:
    """A fresh tenant with helpers to publish its facts and read its verdicts."""

    def __init__(self, infra: Any) -> None:
        self.id = f"at-{uuid.uuid4().hex[:10]}"
        self.bootstrap = infra.kafka_bootstrap_servers
        self.out = TopicWatcher(self.bootstrap, (topics.ATTRIBUTIONS.name,), keep=for_tenant(self.id))

    def share(self, sharer: str) -> Envelope[ShareRecorded]:
        code = f"c{uuid.uuid4().hex[:11]}"
        return new_envelope(ShareRecorded(share_id=uuid.uuid4(), sharer_id=sharer, channel=Channel.whatsapp,
                                          referral_code=code, referral_url=f"https://go.test/r/{code}"),
                            tenant_id=self.id)

    def click(self, share: Envelope[ShareRecorded]) -> Envelope[LinkClicked]:
        return new_envelope(LinkClicked(click_id=uuid.uuid4(), referral_code=share.payload.referral_code,
                                        campaign_id="default", sharer_id=share.payload.sharer_id,
                                        visitor_id=uuid.uuid4().hex, ip_hash="f" * 32), tenant_id=self.id)

    def buys(self, customer: str, via: Envelope[ShareRecorded] | None = None, *, code: str | None = None,
             click: Envelope[LinkClicked] | None = None, conversion_id: uuid.UUID | None = None
             ) -> Envelope[ConversionRecorded]:
        return new_envelope(ConversionRecorded(
            conversion_id=conversion_id or uuid.uuid4(), customer_id=customer, kind=ConversionKind.purchase,
            amount_minor=4999, currency="EUR", referral_code=via.payload.referral_code if via else code,
            click_id=click.payload.click_id if click else None), tenant_id=self.id)

    async def send(self, *events: Envelope[Any]) -> None:
        await produce(self.bootstrap, events)

    async def referred(self, customer: str, via: Envelope[ShareRecorded]) -> Envelope[ConversionRecorded]:
        """Publish a share, then a purchase through it; return the purchase once it is decided."""
        conv = self.buys(customer, via)
        await self.send(via)
        await self.send(conv)
        await self.verdict(conv)
        return conv

    async def verdict(self, conv: Envelope[ConversionRecorded]) -> Envelope[Any]:
        cid = conv.payload.conversion_id
        await self.out.wait_for(lambda w: self.verdicts(cid), 30, f"a verdict on {cid}")
        return self.verdicts(cid)[0]

    def verdicts(self, cid: uuid.UUID) -> list[Envelope[Any]]:
        return [e for e in self.out.events() if e.payload.conversion_id == cid]


@pytest.fixture
async def t(infra: Any, runtime: ServiceRuntime) -> AsyncIterator[Tenant]:
    tenant = Tenant(infra)
    async with tenant.out:
        yield tenant


async def until(fetch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not ok(value := await fetch()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


async def test_a_purchase_with_a_code_is_attributed_to_the_sharer(t: Tenant, admin: asyncpg.Pool) -> None:
    anna = t.share("anna")
    ben = t.buys("ben", anna)
    await t.send(anna)
    await t.send(ben)

    v = await t.verdict(ben)
    assert v.event_type == "ConversionAttributed"
    assert (v.payload.referrer_id, v.payload.referee_id, v.payload.root_seeder_id) == ("anna", "ben", "anna")
    assert (v.payload.generation, v.payload.parent_conversion_id, v.payload.path) == (1, None, "referral_code")
    assert (v.payload.amount_minor, v.payload.currency, v.causation_id) == (4999, "EUR", ben.event_id)
    bound = await admin.fetchrow("SELECT referrer_id, generation FROM attribution.bindings "
                                 "WHERE tenant_id = $1 AND referee_id = 'ben'", t.id)
    assert tuple(bound) == ("anna", 1)


async def test_a_purchase_after_a_click_is_attributed_by_the_click(t: Tenant) -> None:
    anna = t.share("anna")
    click = t.click(anna)
    ben = t.buys("ben", click=click)
    await t.send(anna, click)
    await t.send(ben)

    v = await t.verdict(ben)
    assert (v.event_type, v.payload.referrer_id, v.payload.path) == ("ConversionAttributed", "anna", "click")


async def test_a_conversion_before_its_share_is_held_then_attributed(t: Tenant, admin: asyncpg.Pool) -> None:
    anna = t.share("anna")
    ben = t.buys("ben", anna)
    await t.send(ben)
    assert await until(lambda: admin.fetchval(HELD_SQL, t.id, ben.payload.conversion_id), bool) == 1
    assert not t.verdicts(ben.payload.conversion_id)

    await t.send(anna)
    v = await t.verdict(ben)
    assert (v.event_type, v.payload.referrer_id, v.payload.generation) == ("ConversionAttributed", "anna", 1)
    assert await admin.fetchval(HELD_SQL, t.id, ben.payload.conversion_id) == 0


async def test_a_referee_of_a_referee_is_generation_two_under_the_same_root(t: Tenant) -> None:
    ben = await t.referred("ben", t.share("anna"))
    ben_shares = t.share("ben")
    cleo = t.buys("cleo", ben_shares)
    await t.send(ben_shares)
    await t.send(cleo)

    v = await t.verdict(cleo)
    assert (v.payload.referrer_id, v.payload.generation, v.payload.root_seeder_id) == ("ben", 2, "anna")
    assert v.payload.parent_conversion_id == ben.payload.conversion_id


async def test_buying_through_ones_own_link_is_rejected(t: Tenant, admin: asyncpg.Pool) -> None:
    anna = t.share("anna")
    own = t.buys("anna", anna)
    await t.send(anna)
    await t.send(own)

    v = await t.verdict(own)
    assert (v.event_type, v.payload.reason, v.payload.referrer_id) == ("AttributionRejected", "self_referral", "anna")
    assert await admin.fetchval("SELECT count(*) FROM attribution.bindings WHERE tenant_id = $1", t.id) == 0


async def test_a_referral_ring_is_rejected(t: Tenant) -> None:
    await t.referred("ben", t.share("anna"))
    ben_shares = t.share("ben")
    anna_buys = t.buys("anna", ben_shares)
    await t.send(ben_shares)
    await t.send(anna_buys)

    v = await t.verdict(anna_buys)
    assert (v.event_type, v.payload.reason) == ("AttributionRejected", "referral_ring")
    assert (v.payload.referee_id, v.payload.referrer_id) == ("anna", "ben")


async def test_a_conversion_without_code_or_click_is_unattributed(t: Tenant, admin: asyncpg.Pool) -> None:
    walk_in = t.buys("dora")
    await t.send(walk_in)

    v = await t.verdict(walk_in)
    assert (v.event_type, v.payload.reason, v.payload.customer_id) == ("ConversionUnattributed",
                                                                       "no_referral_link", "dora")
    assert await admin.fetchval("SELECT outcome FROM attribution.conversion_outcomes WHERE tenant_id = $1 "
                                "AND conversion_id = $2", t.id, walk_in.payload.conversion_id) == "unattributed"


async def test_a_bound_customer_stays_with_the_first_referrer(t: Tenant) -> None:
    xavier = t.share("xavier")
    await t.referred("ben", t.share("anna"))
    second = t.buys("ben", xavier)
    await t.send(xavier)
    await t.send(second)

    v = await t.verdict(second)
    assert (v.event_type, v.payload.referrer_id, v.payload.path) == ("ConversionAttributed", "anna",
                                                                     "bound_customer")


async def test_a_conversion_redelivered_under_a_new_event_id_is_decided_once(t: Tenant, admin: asyncpg.Pool) -> None:
    anna = t.share("anna")
    ben = await t.referred("ben", anna)
    replay = t.buys("ben", anna, conversion_id=ben.payload.conversion_id)
    sentinel = t.buys("ben")  # ben's next purchase: same partition as the replay, decided after it
    await t.send(replay, sentinel)
    await t.verdict(sentinel)

    assert [v.event_type for v in t.verdicts(ben.payload.conversion_id)] == ["ConversionAttributed"]
    assert await admin.fetchval("SELECT count(*) FROM attribution.conversion_outcomes WHERE tenant_id = $1 "
                                "AND conversion_id = $2", t.id, ben.payload.conversion_id) == 1


async def test_a_conversion_repeated_within_one_batch_is_decided_once(t: Tenant, admin: asyncpg.Pool) -> None:
    anna = t.share("anna")
    ben = t.buys("ben", anna)
    replay = t.buys("ben", anna, conversion_id=ben.payload.conversion_id)
    sentinel = t.buys("ben")
    await t.send(anna)
    # The share travels on another topic: let it land first, or ben's conversions are only held.
    await until(lambda: admin.fetchval("SELECT count(*) FROM attribution.referral_links WHERE tenant_id = $1", t.id),
                lambda n: n == 1)
    await t.send(ben, replay, sentinel)  # one key, one producer batch: one consumer batch
    await t.verdict(sentinel)

    assert [v.payload.path for v in t.verdicts(ben.payload.conversion_id)] == ["referral_code"]


async def test_a_held_conversion_whose_code_never_arrives_expires_as_unattributed(
        t: Tenant, runtime: ServiceRuntime, admin: asyncpg.Pool) -> None:
    lost = t.buys("fred", code="NeverShared1")
    await t.send(lost)
    assert await until(lambda: admin.fetchval(HELD_SQL, t.id, lost.payload.conversion_id), bool) == 1
    # A clock past the grace period expires everything the sweep takes, so other tenants' held
    # conversions are locked for the duration: the sweep skips locked rows.
    sweep = Attribution(hold_grace_s=0, clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=5)).sweep_held
    async with runtime.pool.acquire() as guard, guard.transaction():
        await guard.execute("SELECT 1 FROM held_conversions WHERE tenant_id <> $1 FOR UPDATE", t.id)

        async def sweep_once() -> int:
            await runtime.run_job(sweep)
            return await admin.fetchval(HELD_SQL, t.id, lost.payload.conversion_id)

        # The service's own periodic sweep may hold the row for a moment; try again until it is ours.
        assert await until(sweep_once, lambda held: held == 0, timeout=10) == 0
    v = await t.verdict(lost)

    assert (v.event_type, v.payload.reason) == ("ConversionUnattributed", "unknown_referral_code")
    assert await admin.fetchval(HELD_SQL, t.id, lost.payload.conversion_id) == 0
