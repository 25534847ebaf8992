"""Reward rules and budget allocation. Pure: balances and existing keys are looked up before."""
from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from kaskade_contracts.events import (ConversionAttributed, ConversionKind, RewardDeclined, RewardGranted,
                                      RewardKind, RewardRole)

REWARD_NAMESPACE = uuid.UUID("6a0c7b7e-2f7c-4d52-9a52-6b1f3d6a8c11")


@dataclass(frozen=True, slots=True)
class Rule:
    rule_id: str
    referrer_reward_minor: int
    kind: RewardKind
    active: bool = True


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

    @property
    def budget_key(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.attribution.campaign_id, self.attribution.currency)


def idempotency_key(campaign_id: str, conversion_id: uuid.UUID, rule_id: str, recipient_id: str) -> str:
    raw = f"{campaign_id}\x00{conversion_id}\x00{rule_id}\x00{recipient_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def candidates(tenant_id: str, fact: ConversionAttributed, rule: Rule) -> list[Candidate]:
    """What the rule grants for one attributed conversion: the referrer earns a fixed reward per
    referred purchase. (Referee, share, tier and cascade rewards extend this list.)"""
    if not rule.active or fact.kind is not ConversionKind.purchase or rule.referrer_reward_minor == 0:
        return []
    key = idempotency_key(fact.campaign_id, fact.conversion_id, rule.rule_id, fact.referrer_id)
    return [Candidate(tenant_id, uuid.uuid5(REWARD_NAMESPACE, f"{tenant_id}\x00{key}"), key, fact, rule,
                      fact.referrer_id, RewardRole.referrer, rule.referrer_reward_minor)]


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
                         role=c.role, kind=c.rule.kind, amount_minor=c.amount_minor, currency=a.currency,
                         generation=a.generation, status="pending")


def declined_fact(c: Candidate, reason: str) -> RewardDeclined:
    a = c.attribution
    return RewardDeclined(reward_id=c.reward_id, idempotency_key=c.idempotency_key, campaign_id=a.campaign_id,
                          conversion_id=a.conversion_id, rule_id=c.rule.rule_id, recipient_id=c.recipient_id,
                          role=c.role, amount_minor=c.amount_minor, currency=a.currency, reason=reason)
