"""Pure rules: holds, cascades, milestones, share rewards, caps, revocation shares and budget
warning thresholds."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from kaskade_contracts.events import (AttributionPath, CampaignStatus, CampaignTerms, CascadeReward, Channel,
                                      ConversionAttributed, ConversionKind, Milestone, ReferrerCap, RewardKind,
                                      RewardRole, RewardRule, ShareRecorded, ShareReward)
from kaskade_contracts.ids import uuid7, uuid7_time_ms
from reward.domain import REWARD_NAMESPACE, Campaign, ReferredPurchase, revocable
from reward.limits import apply_limits, limit_for, warnings_reached
from reward.rules import for_milestone, for_new_upline, for_referral, for_share

AT = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def campaign(**terms: object) -> Campaign:
    return Campaign.from_terms("spring", CampaignStatus.active,
                               CampaignTerms(landing_url="https://shop.example.com/", **terms))  # type: ignore[arg-type]


def purchase(upline: list[str] | None = None, amount: int = 10_000) -> ConversionAttributed:
    return ConversionAttributed(conversion_id=uuid.uuid4(), campaign_id="spring", kind=ConversionKind.purchase,
                                amount_minor=amount, currency="EUR", referee_id="bob", referrer_id="alice",
                                root_seeder_id="zed", generation=2, path=AttributionPath.click, upline=upline or [])


def test_the_hold_runs_from_the_purchase_and_zero_days_means_none() -> None:
    assert campaign(holding_days=14).hold_until(AT) == AT + timedelta(days=14)
    assert campaign(holding_days=0).hold_until(AT) is None
    [c] = for_referral("acme", purchase(), campaign(holding_days=0), AT)
    assert c.status == "confirmed"


def test_the_cascade_compounds_the_fraction_per_level_skips_loops_and_stops_at_the_depth() -> None:
    terms = campaign(referrer_reward=RewardRule(amount_minor=1000), cascade=CascadeReward(fraction_bps=5000,
                                                                                         max_depth=3))
    cands = for_referral("acme", purchase(["carl", "alice", "dora", "emil"]), terms, AT)

    assert [(c.recipient_id, c.role, c.rule.rule_id, c.amount_minor) for c in cands] == [
        ("alice", RewardRole.referrer, "referrer", 1000), ("carl", RewardRole.upline, "cascade-1", 500),
        ("dora", RewardRole.upline, "cascade-3", 125)]  # alice (level 2) is the referrer: paid once
    assert len({c.idempotency_key for c in cands}) == 3 and {c.generation for c in cands} == {2}


def test_a_corrected_upline_calls_for_the_same_rewards_at_the_levels_it_shares_with_the_first() -> None:
    """The keys match what the purchase earned when it was decided, so only new levels are new."""
    terms = campaign(referrer_reward=RewardRule(amount_minor=1000, percent_bps=100), holding_days=30,
                     cascade=CascadeReward(fraction_bps=5000, max_depth=3))
    fact = purchase(["carl"])
    then = for_referral("acme", fact, terms, AT)
    bought = ReferredPurchase(fact.conversion_id, "bob", "alice", fact.amount_minor, "EUR", AT)
    now = for_new_upline("acme", bought, ["carl", "bob", "dora", "emil"], 4, terms)

    assert [(c.recipient_id, c.rule.rule_id, c.amount_minor, c.generation) for c in now] == [
        ("carl", "cascade-1", 550, 4), ("dora", "cascade-3", 137, 4)]  # bob is the referee: no reward for himself
    assert now[0].reward_id == then[1].reward_id and now[0].idempotency_key == then[1].idempotency_key
    assert {c.hold_until for c in now} == {AT + timedelta(days=30)} and {c.role for c in now} == {RewardRole.upline}
    assert for_new_upline("acme", bought, ["carl"], 4, campaign(referrer_reward=RewardRule(amount_minor=1000))) == []


def test_a_reward_for_a_time_ordered_conversion_sorts_with_it_and_any_other_keeps_its_uuid5_id() -> None:
    terms = campaign(referrer_reward=RewardRule(amount_minor=1000), milestones=[
        Milestone(referrals=1, reward=RewardRule(amount_minor=700))])
    fact = purchase().model_copy(update={"conversion_id": uuid7()})
    [c] = for_referral("acme", fact, terms, AT)
    assert (c.reward_id.version, uuid7_time_ms(c.reward_id)) == (7, uuid7_time_ms(fact.conversion_id))
    assert for_referral("acme", fact, terms, AT)[0].reward_id == c.reward_id  # derived: the same every time

    [old] = for_referral("acme", legacy := purchase(), terms, AT)  # a random (v4) conversion id, as before
    assert old.reward_id == uuid.uuid5(REWARD_NAMESPACE, f"acme\x00{old.idempotency_key}")
    bonus = for_milestone("acme", terms, c, 1, 10_000, "EUR")  # keyed without the conversion: no time in it
    assert bonus is not None and bonus.reward_id == uuid.uuid5(REWARD_NAMESPACE, f"acme\x00{bonus.idempotency_key}")
    assert legacy.conversion_id.version == 4


def test_a_milestone_is_keyed_by_referrer_not_by_conversion() -> None:
    terms = campaign(milestones=[Milestone(referrals=3, reward=RewardRule(amount_minor=700, percent_bps=100))])
    [one] = for_referral("acme", purchase(), terms, AT)
    [other] = for_referral("acme", purchase(), terms, AT)

    a, b = for_milestone("acme", terms, one, 3, 10_000, "EUR"), for_milestone("acme", terms, other, 3, 5_000, "EUR")
    assert a is not None and b is not None and a.idempotency_key == b.idempotency_key
    assert (a.amount_minor, a.rule.rule_id, a.hold_until) == (800, "milestone-3", one.hold_until)
    assert for_milestone("acme", terms, one, 2, 10_000, "EUR") is None


def test_a_share_reward_is_confirmed_at_once_and_keyed_by_the_share() -> None:
    share = ShareRecorded(share_id=uuid.uuid4(), campaign_id="spring", sharer_id="sam", channel=Channel.email,
                          referral_code="abcdefgh", referral_url="https://go.example.com/r/abcdefgh")
    terms = campaign(share_reward=ShareReward(reward=RewardRule(amount_minor=50, kind=RewardKind.points)))

    c = for_share("acme", share, terms, AT)
    assert c is not None and (c.role, c.generation, c.share_id, c.conversion_id, c.currency, c.status) == (
        RewardRole.sharer, 0, share.share_id, None, "PTS", "confirmed")
    assert for_share("acme", share, campaign(), AT) is None


def test_caps_count_within_the_window_ending_at_each_reward() -> None:
    terms = campaign(referrer_cap=ReferrerCap(max_rewards=2, period_days=10))
    cands = [for_referral("acme", purchase(), terms, AT + timedelta(days=d))[0] for d in (0, 1, 2, 11, 12)]

    kept, capped = apply_limits([(c, limit_for(terms, c)) for c in cands],
                                {("acme", "spring", "referrer", "alice"): [(AT - timedelta(days=20), 500)]})
    # Day 2 finds days 0 and 1 in its window; day 12 finds only day 11 (day 2 was never granted).
    assert kept == [cands[0], cands[1], cands[3], cands[4]] and capped == [(cands[2], "referrer_cap")]


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(0, 10**6), conversion=st.integers(0, 10**6), refunds=st.lists(st.integers(0, 10**6),
                                                                                         max_size=6))
def test_revocations_follow_the_refunded_total_and_never_exceed_the_reward(amount: int, conversion: int,
                                                                           refunds: list[int]) -> None:
    revoked, total = 0, 0
    for r in refunds:
        total = min(conversion, total + r)
        revoked += revocable(amount, revoked, total, conversion, total >= conversion)
        assert revocable(amount, revoked, total, conversion, total >= conversion) == 0  # a replay takes nothing
    assert 0 <= revoked <= amount
    if refunds and total >= conversion:
        assert revoked == amount


def test_warnings_are_reached_at_80_and_95_percent() -> None:
    assert (warnings_reached(1000, 799), warnings_reached(1000, 800), warnings_reached(1000, 950)) == ([], [80],
                                                                                                      [80, 95])
    assert warnings_reached(0, 0) == []
