"""Reward rules and budget allocation. Pure: campaigns, balances and existing keys are looked up
before, by the handler."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from kaskade_contracts.events import (CampaignStatus, CampaignTerms, ConversionAttributed, ConversionKind,
                                      RewardDeclined, RewardGranted, RewardKind, RewardRole)

REWARD_NAMESPACE = uuid.UUID("6a0c7b7e-2f7c-4d52-9a52-6b1f3d6a8c11")


@dataclass(frozen=True, slots=True)
class Rule:
    """What one side of a referral earns per referred purchase."""
    rule_id: str
    amount_minor: int
    kind: RewardKind
    percent_bps: int = 0


@dataclass(frozen=True, slots=True)
class Campaign:
    """The part of a campaign's definition reward needs."""
    campaign_id: str
    active: bool
    currency: str
    budget_minor: int
    referrer: Rule
    referee: Rule

    @classmethod
    def from_terms(cls, campaign_id: str, status: CampaignStatus, terms: CampaignTerms) -> "Campaign":
        def rule(rule_id: str, r: object) -> Rule:
            return Rule(rule_id, r.amount_minor, r.kind, r.percent_bps)  # type: ignore[attr-defined]
        return cls(campaign_id, status is CampaignStatus.active, terms.currency, terms.budget_minor,
                   rule("referrer", terms.referrer_reward), rule("referee", terms.referee_reward))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A reward a rule calls for, before the budget has had its say."""
    tenant_id: str
    reward_id: uuid.UUID
    idempotency_key: str
    attribution: ConversionAttributed
    rule: Rule
    recipient_id: str
    role: RewardRole
    amount_minor: int
    currency: str

    @property
    def budget_key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.attribution.campaign_id, self.currency)


def idempotency_key(campaign_id: str, conversion_id: uuid.UUID, rule_id: str, recipient_id: str) -> str:
    raw = f"{campaign_id}\x00{conversion_id}\x00{rule_id}\x00{recipient_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def reward_amount(rule: Rule, fact: ConversionAttributed, currency: str) -> int:
    """Fixed part plus a share of the purchase; the share only when the purchase is in the
    campaign's currency (no exchange rates here)."""
    share = fact.amount_minor * rule.percent_bps // 10_000 if fact.currency == currency else 0
    return rule.amount_minor + share


def candidates(tenant_id: str, fact: ConversionAttributed, campaign: Campaign) -> list[Candidate]:
    """Double-sided: the referrer and the referee each earn what their rule says per referred
    purchase. (Share, tier and cascade rewards extend this list.)"""
    if fact.kind is not ConversionKind.purchase:
        return []
    out = []
    for role, rule, recipient in ((RewardRole.referrer, campaign.referrer, fact.referrer_id),
                                  (RewardRole.referee, campaign.referee, fact.referee_id)):
        amount = reward_amount(rule, fact, campaign.currency)
        if amount <= 0:
            continue
        key = idempotency_key(fact.campaign_id, fact.conversion_id, rule.rule_id, recipient)
        out.append(Candidate(tenant_id, uuid.uuid5(REWARD_NAMESPACE, f"{tenant_id}\x00{key}"), key, fact, rule,
                             recipient, role, amount, campaign.currency))
    return out


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
    a = c.attribution
    return RewardGranted(reward_id=c.reward_id, idempotency_key=c.idempotency_key, campaign_id=a.campaign_id,
                         conversion_id=a.conversion_id, rule_id=c.rule.rule_id, recipient_id=c.recipient_id,
                         role=c.role, kind=c.rule.kind, amount_minor=c.amount_minor, currency=c.currency,
                         generation=a.generation, status="pending")


def declined_fact(c: Candidate, reason: str) -> RewardDeclined:
    a = c.attribution
    return RewardDeclined(reward_id=c.reward_id, idempotency_key=c.idempotency_key, campaign_id=a.campaign_id,
                          conversion_id=a.conversion_id, rule_id=c.rule.rule_id, recipient_id=c.recipient_id,
                          role=c.role, amount_minor=c.amount_minor, currency=c.currency, reason=reason)
