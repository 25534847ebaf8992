"""What reward knows of a campaign, the rewards its rules call for, and how a budget is shared out.
Pure: campaigns, balances and existing keys are looked up before, by the handler; time is passed in."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from kaskade_contracts.events import (CampaignStatus, CampaignTerms, CascadeReward, ReferrerCap, RewardDeclined,
                                      RewardGranted, RewardKind, RewardRole, RewardRule)
from kaskade_contracts.ids import derived_uuid

REWARD_NAMESPACE = uuid.UUID("6a0c7b7e-2f7c-4d52-9a52-6b1f3d6a8c11")
POINTS = "PTS"  # points are an asset of their own, booked like a currency


@dataclass(frozen=True, slots=True)
class Rule:
    """What one side earns per rewarded event: a fixed amount plus a share of the purchase."""
    rule_id: str
    amount_minor: int
    kind: RewardKind
    percent_bps: int = 0

    @classmethod
    def of(cls, rule_id: str, r: RewardRule) -> "Rule":
        return cls(rule_id, r.amount_minor, r.kind, r.percent_bps)

    def currency(self, campaign_currency: str) -> str:
        return POINTS if self.kind is RewardKind.points else campaign_currency

    def amount(self, purchase_minor: int, purchase_currency: str, campaign_currency: str) -> int:
        """The share only when the purchase is in the campaign's currency (no exchange rates here)."""
        share = purchase_minor * self.percent_bps // 10_000 if purchase_currency == campaign_currency else 0
        return self.amount_minor + share


class ReferredPurchase(NamedTuple):
    """A purchase in a campaign with a cascade, as reward granted it: enough to pay its cascade again
    for an upline corrected later."""
    conversion_id: uuid.UUID
    referee_id: str
    referrer_id: str
    amount_minor: int
    currency: str
    purchased_at: datetime


@dataclass(frozen=True, slots=True)
class ShareTerms:
    rule: Rule
    max_per_period: int
    period_days: int


@dataclass(frozen=True, slots=True)
class Campaign:
    """The part of a campaign's definition reward needs."""
    campaign_id: str
    active: bool
    currency: str
    budget_minor: int
    referrer: Rule
    referee: Rule
    holding_days: int = 14
    milestones: tuple[tuple[int, Rule], ...] = ()
    cascade: CascadeReward | None = None
    share: ShareTerms | None = None
    referrer_cap: ReferrerCap | None = None

    @classmethod
    def from_terms(cls, campaign_id: str, status: CampaignStatus, terms: CampaignTerms) -> "Campaign":
        share = terms.share_reward
        return cls(campaign_id, status is CampaignStatus.active, terms.currency, terms.budget_minor,
                   Rule.of("referrer", terms.referrer_reward), Rule.of("referee", terms.referee_reward),
                   terms.holding_days,
                   tuple(sorted((m.referrals, Rule.of(f"milestone-{m.referrals}", m.reward))
                                for m in terms.milestones)),
                   terms.cascade,
                   ShareTerms(Rule.of("share", share.reward), share.max_per_period, share.period_days)
                   if share else None,
                   terms.referrer_cap)

    @property
    def rules(self) -> list[Rule]:
        return [self.referrer, self.referee, *(r for _, r in self.milestones),
                *([self.share.rule] if self.share else [])]

    @property
    def currencies(self) -> set[str]:
        """Each currency or asset the campaign pays in has a budget account of its own."""
        return {r.currency(self.currency) for r in self.rules}

    def hold_until(self, purchased_at: datetime) -> datetime | None:
        """None: confirmed at once."""
        return purchased_at + timedelta(days=self.holding_days) if self.holding_days else None


class Candidate(NamedTuple):
    """A reward a rule calls for, before caps and the budget have had their say."""
    tenant_id: str
    reward_id: uuid.UUID
    idempotency_key: str
    campaign_id: str
    rule: Rule
    recipient_id: str
    role: RewardRole
    amount_minor: int
    currency: str
    earned_at: datetime
    hold_until: datetime | None
    conversion_id: uuid.UUID | None = None
    share_id: uuid.UUID | None = None
    generation: int = 0
    discount_code: str | None = None

    @property
    def budget_key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.campaign_id, self.currency)

    @property
    def status(self) -> str:
        return "pending" if self.hold_until is not None else "confirmed"


def idempotency_key(campaign_id: str, source: uuid.UUID | str, rule_id: str, recipient_id: str) -> str:
    """`source` is the conversion (or share, or milestone) the reward is for."""
    raw = f"{campaign_id}\x00{source}\x00{rule_id}\x00{recipient_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def reward_id(tenant_id: str, key: str, source: uuid.UUID | str) -> uuid.UUID:
    """Derived from the idempotency key, so every path to a reward finds the same row. A reward for a
    conversion whose id is time-ordered (UUIDv7) sorts with it: grants then insert at the newest end
    of the rewards index, where a random id wrote nearly one full page to the WAL per grant. Any
    other source keeps the plain uuid5 rewards always had, so older rewards are found as before."""
    name = f"{tenant_id}\x00{key}"
    if isinstance(source, uuid.UUID):
        return derived_uuid(REWARD_NAMESPACE, name, source)
    return uuid.uuid5(REWARD_NAMESPACE, name)


def candidate(tenant_id: str, campaign_id: str, source: uuid.UUID | str, rule: Rule, recipient_id: str,
              role: RewardRole, amount_minor: int, currency: str, earned_at: datetime, hold_until: datetime | None,
              **ids: object) -> Candidate:
    key = idempotency_key(campaign_id, source, rule.rule_id, recipient_id)
    return Candidate(tenant_id, reward_id(tenant_id, key, source), key, campaign_id, rule, recipient_id, role,
                     amount_minor, currency, earned_at, hold_until, **ids)  # type: ignore[arg-type]


def allocate(cands: list[Candidate], balances: dict[tuple[str, str, str], int]
             ) -> tuple[list[Candidate], list[Candidate]]:
    """Grant in order while the budget lasts; returns (granted, declined). Mutates `balances`."""
    granted, declined = [], []
    for c in cands:
        if balances.get(c.budget_key, 0) >= c.amount_minor:
            balances[c.budget_key] -= c.amount_minor
            granted.append(c)
        else:
            declined.append(c)
    return granted, declined


def granted_fact(c: Candidate) -> RewardGranted:
    return RewardGranted(reward_id=c.reward_id, idempotency_key=c.idempotency_key, campaign_id=c.campaign_id,
                         conversion_id=c.conversion_id, share_id=c.share_id, rule_id=c.rule.rule_id,
                         recipient_id=c.recipient_id, role=c.role, kind=c.rule.kind, amount_minor=c.amount_minor,
                         currency=c.currency, generation=c.generation, discount_code=c.discount_code,
                         status=c.status, hold_until=c.hold_until)


def declined_fact(c: Candidate, reason: str) -> RewardDeclined:
    return RewardDeclined(reward_id=c.reward_id, idempotency_key=c.idempotency_key, campaign_id=c.campaign_id,
                          conversion_id=c.conversion_id, share_id=c.share_id, rule_id=c.rule.rule_id,
                          recipient_id=c.recipient_id, role=c.role, amount_minor=c.amount_minor, currency=c.currency,
                          reason=reason)


def revocable(amount_minor: int, revoked_minor: int, refunded_total_minor: int, conversion_amount_minor: int,
              full: bool) -> int:
    """What to revoke now so that the revoked part matches the refunded share of the purchase
    (all of it once the purchase is fully refunded). Computed from the running refund total, so a
    replayed or late refund revokes nothing twice."""
    if full:
        target = amount_minor
    elif conversion_amount_minor <= 0:
        target = 0
    else:
        target = min(amount_minor, amount_minor * refunded_total_minor // conversion_amount_minor)
    return max(0, target - revoked_minor)
