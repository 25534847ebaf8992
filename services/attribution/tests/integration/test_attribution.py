"""attribution's core rules against real Kafka and Postgres: facts published straight onto its
input topics, its verdicts read from kaskade.attributions.v1 and from its own tables."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from attribution.handlers import Attribution
from kaskade_platform.runtime import ServiceRuntime

pytestmark = pytest.mark.integration
HELD_SQL = "SELECT count(*) FROM attribution.held_conversions WHERE tenant_id = $1 AND conversion_id = $2"
Tenant = Any  # the `t` fixture (conftest.Tenant)


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


async def test_a_conversion_before_its_share_is_held_then_attributed(t: Tenant, admin: asyncpg.Pool, wait: Any) -> None:
    anna = t.share("anna")
    ben = t.buys("ben", anna)
    await t.send(ben)
    assert await wait(lambda: admin.fetchval(HELD_SQL, t.id, ben.payload.conversion_id), bool) == 1
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


async def test_a_conversion_repeated_within_one_batch_is_decided_once(t: Tenant, admin: asyncpg.Pool,
                                                                     wait: Any) -> None:
    anna = t.share("anna")
    ben = t.buys("ben", anna)
    replay = t.buys("ben", anna, conversion_id=ben.payload.conversion_id)
    sentinel = t.buys("ben")
    await t.send(anna)
    # The share travels on another topic: let it land first, or ben's conversions are only held.
    await wait(lambda: admin.fetchval("SELECT count(*) FROM attribution.referral_links WHERE tenant_id = $1", t.id),
                lambda n: n == 1)
    await t.send(ben, replay, sentinel)  # one key, one producer batch: one consumer batch
    await t.verdict(sentinel)

    assert [v.payload.path for v in t.verdicts(ben.payload.conversion_id)] == ["referral_code"]


async def test_a_held_conversion_whose_code_never_arrives_expires_as_unattributed(
        t: Tenant, runtime: ServiceRuntime, admin: asyncpg.Pool, wait: Any) -> None:
    lost = t.buys("fred", code="NeverShared1")
    await t.send(lost)
    assert await wait(lambda: admin.fetchval(HELD_SQL, t.id, lost.payload.conversion_id), bool) == 1
    # A clock past the grace period expires everything the sweep takes, so other tenants' held
    # conversions are locked for the duration: the sweep skips locked rows.
    sweep = Attribution(hold_grace_s=0, clock=lambda: datetime.now(timezone.utc) + timedelta(seconds=5)).sweep_held
    async with runtime.pool.acquire() as guard, guard.transaction():
        await guard.execute("SELECT 1 FROM held_conversions WHERE tenant_id <> $1 FOR UPDATE", t.id)

        async def sweep_once() -> int:
            await runtime.run_job(sweep)
            return await admin.fetchval(HELD_SQL, t.id, lost.payload.conversion_id)

        # The service's own periodic sweep may hold the row for a moment; try again until it is ours.
        assert await wait(sweep_once, lambda held: held == 0, timeout=30) == 0
    v = await t.verdict(lost)

    assert (v.event_type, v.payload.reason) == ("ConversionUnattributed", "unknown_referral_code")
    assert await admin.fetchval(HELD_SQL, t.id, lost.payload.conversion_id) == 0
