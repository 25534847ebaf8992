"""The rewards a campaign's rules call for: per referred purchase (referrer, referee, cascade), per
milestone, per share. Pure; the handler passes in the time of the fact and what is already booked."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from kaskade_contracts.events import ConversionAttributed, ConversionKind, RewardRole, ShareRecorded
from reward.domain import Campaign, Candidate, ReferredPurchase, Rule, candidate

MILESTONE = "milestone"  # a milestone is earned once per referrer, whichever conversion reaches it


def for_referral(tenant_id: str, fact: ConversionAttributed, campaign: Campaign,
                 purchased_at: datetime) -> list[Candidate]:
    """Double-sided: the referrer and the referee each earn what their rule says per referred
    purchase; with a cascade, the referrer's upline earns a fraction of the referrer's reward per
    level, nearest first."""
    if fact.kind is not ConversionKind.purchase:
        return []
    hold = campaign.hold_until(purchased_at)
    ids = {"conversion_id": fact.conversion_id, "generation": fact.generation}
    out = []

    def add(rule: Rule, recipient: str, role: RewardRole, amount: int) -> None:
        if amount > 0:
            out.append(candidate(tenant_id, fact.campaign_id, fact.conversion_id, rule, recipient, role,
                                 amount, rule.currency(campaign.currency), purchased_at, hold, **ids))

    referrer_amount = campaign.referrer.amount(fact.amount_minor, fact.currency, campaign.currency)
    add(campaign.referrer, fact.referrer_id, RewardRole.referrer, referrer_amount)
    add(campaign.referee, fact.referee_id, RewardRole.referee,
        campaign.referee.amount(fact.amount_minor, fact.currency, campaign.currency))
    for level, upliner, amount in _cascade(campaign, referrer_amount, fact.referrer_id, fact.referee_id, fact.upline):
        add(replace(campaign.referrer, rule_id=f"cascade-{level}"), upliner, RewardRole.upline, amount)
    return out


def for_new_upline(tenant_id: str, purchase: ReferredPurchase, upline: list[str], generation: int,
                   campaign: Campaign) -> list[Candidate]:
    """The cascade rewards a purchase calls for with its referee's corrected upline. The levels the
    old upline reached are the same rewards (same keys), so only newly reached levels are new."""
    referrer_amount = campaign.referrer.amount(purchase.amount_minor, purchase.currency, campaign.currency)
    hold = campaign.hold_until(purchase.purchased_at)
    return [candidate(tenant_id, campaign.campaign_id, purchase.conversion_id,
                      replace(campaign.referrer, rule_id=f"cascade-{level}"), upliner, RewardRole.upline, amount,
                      campaign.referrer.currency(campaign.currency), purchase.purchased_at, hold,
                      conversion_id=purchase.conversion_id, generation=generation)
            for level, upliner, amount in _cascade(campaign, referrer_amount, purchase.referrer_id,
                                                   purchase.referee_id, upline) if amount > 0]


def _cascade(campaign: Campaign, referrer_amount: int, referrer_id: str, referee_id: str,
             upline: list[str]) -> list[tuple[int, str, int]]:
    """(level, upliner, amount): a fraction of the referrer's reward per level, nearest first."""
    if campaign.cascade is None:
        return []
    out, amount, seen = [], referrer_amount, {referrer_id, referee_id}
    for level, upliner in enumerate(upline[:campaign.cascade.max_depth], start=1):
        amount = amount * campaign.cascade.fraction_bps // 10_000
        if upliner in seen:  # a loop in the chain earns nothing twice
            continue
        seen.add(upliner)
        out.append((level, upliner, amount))
    return out


def for_milestone(tenant_id: str, campaign: Campaign, referral: Candidate, referrals: int,
                  purchase_minor: int, purchase_currency: str) -> Candidate | None:
    """The bonus for the referrer's `referrals`-th rewarded referral, tied to the purchase that
    reached it (same hold; revoked with it)."""
    rule = dict(campaign.milestones).get(referrals)
    if rule is None:
        return None
    amount = rule.amount(purchase_minor, purchase_currency, campaign.currency)
    if amount <= 0:
        return None
    return candidate(tenant_id, campaign.campaign_id, MILESTONE, rule, referral.recipient_id, RewardRole.referrer,
                     amount, rule.currency(campaign.currency), referral.earned_at, referral.hold_until,
                     conversion_id=referral.conversion_id, generation=referral.generation)


def for_share(tenant_id: str, share: ShareRecorded, campaign: Campaign, shared_at: datetime) -> Candidate | None:
    """Sharing itself earns the share reward; there is no purchase to refund, so no hold."""
    if campaign.share is None:
        return None
    rule = campaign.share.rule
    amount = rule.amount_minor
    if amount <= 0:
        return None
    return candidate(tenant_id, campaign.campaign_id, f"share:{share.share_id}", rule, share.sharer_id,
                     RewardRole.sharer, amount, rule.currency(campaign.currency), shared_at, None,
                     share_id=share.share_id, generation=0)

