"""Reward rules against the real service: discount codes, milestones, cascades, share rewards and
per-referrer caps."""
from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from kaskade_contracts.events import (CascadeReward, Milestone, ReferrerCap, RewardKind, RewardRule, ShareReward)
from reward.handlers import Rewards

pytestmark = pytest.mark.integration


def granted(kit: Any) -> list[tuple[str, str, str, int]]:
    return sorted((e.payload.rule_id, e.payload.recipient_id, e.payload.role, e.payload.amount_minor)
                  for e in kit.out.events("RewardGranted"))


async def test_a_discount_code_reward_carries_a_unique_unguessable_code(kit: Any) -> None:
    code = RewardRule(amount_minor=1000, kind=RewardKind.discount_code)
    await kit.define(kit.campaign(1, referrer=code, referee=code))
    fact = kit.attributed("ben", campaign="spring")
    await kit.send(fact)

    verdicts = await kit.rewards_for(fact, each=2)
    codes = {e.payload.discount_code for e in verdicts}
    assert len(codes) == 2 and all(re.fullmatch(r"([A-HJ-NP-Z2-9]{4}-){3}[A-HJ-NP-Z2-9]{4}", c) for c in codes)
    assert set(await kit.db.fetchval("SELECT array_agg(discount_code) FROM rewards WHERE tenant_id = $1",
                                     kit.tenant)) == codes
    kit.clock.advance(days=30)
    assert {e.payload.discount_code for e in await kit.confirm()} == codes  # the confirmation names it again


async def test_milestones_are_paid_once_at_the_nth_rewarded_referral(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=100, milestones=[
        Milestone(referrals=2, reward=RewardRule(amount_minor=1000)),
        Milestone(referrals=3, reward=RewardRule(amount_minor=5000, kind=RewardKind.points))]))
    facts = [kit.attributed(f"friend-{i}", campaign="spring") for i in range(4)]
    await kit.send(facts[0], facts[1], facts[1])  # the second one replayed in the same batch
    await kit.verdicts(3, "RewardGranted")
    await kit.send(facts[1], facts[2], facts[3])  # and again, later
    await kit.verdicts(5, "RewardGranted")
    await kit.applied(facts[3])

    assert granted(kit) == [("milestone-2", "anna", "referrer", 1000), ("milestone-3", "anna", "referrer", 5000),
                            ("referrer", "anna", "referrer", 100), ("referrer", "anna", "referrer", 100),
                            ("referrer", "anna", "referrer", 100), ("referrer", "anna", "referrer", 100)]
    bonus = {e.payload.rule_id: e.payload for e in kit.out.events("RewardGranted")}
    assert (bonus["milestone-2"].conversion_id, bonus["milestone-3"].currency) == (facts[1].payload.conversion_id,
                                                                                   "PTS")


async def test_a_milestone_is_paid_once_when_two_consumers_reach_it_at_the_same_time(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=100, milestones=[Milestone(referrals=2,
                                                                         reward=RewardRule(amount_minor=1000))]))
    await kit.send(kit.attributed("friend-0", campaign="spring"))
    await kit.verdicts(1, "RewardGranted")
    rewards = Rewards(kit.runtime.settings)

    async def consume(fact: Any) -> list[Any]:  # two transactions, as two instances would run them
        async with kit.db.acquire() as conn, conn.transaction():
            return await rewards.on_attributed(conn, [fact])
    a, b = await asyncio.gather(consume(kit.attributed("friend-1", campaign="spring")),
                                consume(kit.attributed("friend-2", campaign="spring")))

    assert sorted(e.payload.rule_id for e in a + b) == ["milestone-2", "referrer", "referrer"]
    assert await kit.db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1 AND rule_id = 'milestone-2'",
                                 kit.tenant) == 1


async def test_the_upline_earns_a_fraction_of_the_referrer_reward_per_level_down_to_the_depth(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=1000, cascade=CascadeReward(fraction_bps=2000, max_depth=2)))
    fact = kit.attributed("ben", campaign="spring", upline=["carl", "dora", "emil"])
    await kit.send(fact)

    await kit.rewards_for(fact, each=3)
    assert granted(kit) == [("cascade-1", "carl", "upline", 200), ("cascade-2", "dora", "upline", 40),
                            ("referrer", "anna", "referrer", 1000)]
    assert {e.payload.generation for e in kit.out.events()} == {fact.payload.generation}
    await kit.assert_ledger_balances()


async def test_a_corrected_cascade_pays_the_upline_it_now_reaches_for_purchases_after_the_referral_once(
        kit: Any, ago: Any) -> None:
    """Carl, ben's referrer, turns out to have been referred by dora a day ago (attribution saw it
    late). Ben's purchases since then reach dora at level 2; one from before that referral does not;
    a refunded one pays nothing; otto's are not ben's."""
    await kit.define(kit.campaign(1, referrer=1000, cascade=CascadeReward(fraction_bps=2000, max_depth=2)))
    before, kept, refunded, other = (kit.attributed("ben", campaign="spring", upline=["carl"], at=ago(3)),
                                     kit.attributed("ben", campaign="spring", upline=["carl"]),
                                     kit.attributed("ben", campaign="spring", upline=["carl"]),
                                     kit.attributed("otto", campaign="spring", upline=["carl"]))
    await kit.send(before, kept, refunded, other, kit.reversed(refunded, refunded.payload.amount_minor))
    await kit.verdicts(10)  # two rewards per purchase, and the refunded purchase's two revoked

    await kit.send(kit.reparented("ben", upline=["carl", "dora", "emil"], generation=3, at=ago(1)))
    await kit.verdicts(13)
    await kit.send(kit.reparented("ben", upline=["carl", "dora", "emil"], generation=3, at=ago(1)))  # again
    sentinel = kit.attributed("paul", campaign="spring", referrer="zoe")
    await kit.send(sentinel)
    await kit.rewards_for(sentinel)

    late = [e for e in kit.out.events()[10:] if e.payload.conversion_id != sentinel.payload.conversion_id]
    assert sorted((e.event_type, e.payload.conversion_id, e.payload.recipient_id, e.payload.amount_minor)
                  for e in late) == sorted([
        ("RewardGranted", kept.payload.conversion_id, "dora", 40),
        ("RewardGranted", refunded.payload.conversion_id, "dora", 40),
        ("RewardRevoked", refunded.payload.conversion_id, "dora", 40)])
    assert {(e.payload.rule_id, e.payload.generation) for e in late if e.event_type == "RewardGranted"} == {
        ("cascade-2", 3)}
    assert await kit.earned() == {"anna": 3000, "carl": 600, "dora": 40, "zoe": 1000}
    await kit.assert_ledger_balances()


async def test_sharing_is_rewarded_up_to_the_cap_per_period(kit: Any, ago: Any) -> None:
    await kit.define(kit.campaign(1, share_reward=ShareReward(reward=RewardRule(amount_minor=100), max_per_period=2,
                                                              period_days=30)))
    shares = [kit.shared("sam", at=ago(days)) for days in (40, 5, 4, 3)]  # the first is outside the others' window
    await kit.send(*shares, kit.shared("sam", campaign="no-such-campaign"))
    await kit.verdicts(4)
    await kit.send(shares[1])  # replayed

    gifts = kit.out.events("RewardGranted")
    assert [(g.payload.share_id, g.payload.role, g.payload.generation, g.payload.conversion_id, g.payload.status)
            for g in gifts] == [(s.payload.share_id, "sharer", 0, None, "confirmed") for s in shares[:3]]
    (declined,) = kit.out.events("RewardDeclined")
    assert (declined.payload.reason, declined.payload.recipient_id, declined.payload.share_id) == \
        ("share_cap", "sam", shares[3].payload.share_id)
    await kit.applied(shares[1])
    assert await kit.db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", kit.tenant) == 4
    assert await kit.earned("confirmed") == {"sam": 300}


async def test_a_referrer_beyond_the_cap_is_declined_while_the_referee_is_still_paid(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=500, referee=100,
                                  referrer_cap=ReferrerCap(max_rewards=3, max_amount_minor=1000, period_days=30)))
    facts = [kit.attributed(f"friend-{i}", campaign="spring") for i in range(3)]
    await kit.send(*facts)

    await kit.rewards_for(*facts, each=2)
    assert sorted((e.event_type, e.payload.role, getattr(e.payload, "reason", None)) for e in kit.out.events()) == [
        ("RewardDeclined", "referrer", "referrer_cap"), ("RewardGranted", "referee", None),
        ("RewardGranted", "referee", None), ("RewardGranted", "referee", None),
        ("RewardGranted", "referrer", None), ("RewardGranted", "referrer", None)]  # 1000 reached by the second
    assert await kit.earned() == {"anna": 1000, "friend-0": 100, "friend-1": 100, "friend-2": 100}
