"""reward's subscriber: attributed conversions become ledger bookings and reward events."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import ConversionAttributed, RewardKind
from reward import domain, repo
from reward.config import Settings


class Rewards:
    def __init__(self, settings: Settings) -> None:
        self.default_rule = domain.Rule("referrer-fixed", settings.default_referrer_reward_minor,
                                        RewardKind(settings.default_reward_kind))
        self.default_budget_minor = settings.default_budget_minor

    async def on_attributed(self, conn: asyncpg.Connection,
                            facts: list[Envelope[ConversionAttributed]]) -> list[Envelope[Any]]:
        rules = await repo.rules_for(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
        cands: list[domain.Candidate] = []
        causes: dict[uuid.UUID, Envelope[ConversionAttributed]] = {}
        default = (self.default_rule, self.default_budget_minor)
        for e in facts:
            rule, _ = rules.get((e.tenant_id, e.payload.campaign_id), default)
            for c in domain.candidates(e.tenant_id, e.payload, rule):
                cands.append(c)
                causes[c.reward_id] = e
        if not cands:
            return []
        # A reward already booked (the same conversion attributed again) is never booked twice.
        seen = await repo.existing_rewards(conn, {(c.tenant_id, c.idempotency_key) for c in cands})
        fresh, keys = [], set(seen)
        for c in cands:
            if (c.tenant_id, c.idempotency_key) not in keys:
                keys.add((c.tenant_id, c.idempotency_key))
                fresh.append(c)
        if not fresh:
            return []
        await repo.ensure_budgets(conn, {c.budget_key: rules.get(c.budget_key[:2], default)[1] for c in fresh})
        budgets = await repo.lock_budgets(conn, {c.budget_key for c in fresh})
        granted, declined = domain.allocate(fresh, {k: bal for k, (_, bal) in budgets.items()})

        accounts = await repo.customer_accounts(
            conn, {(c.tenant_id, c.recipient_id, c.attribution.currency) for c in granted})
        txs, entries, rows = [], [], []
        for c in granted:
            tx_id = uuid.uuid5(domain.REWARD_NAMESPACE, f"tx\x00{c.reward_id}")
            txs.append((tx_id, c.tenant_id, c.idempotency_key, "reward_granted"))
            entries += [(tx_id, budgets[c.budget_key][0], -c.amount_minor),
                        (tx_id, accounts[(c.tenant_id, c.recipient_id, c.attribution.currency)], c.amount_minor)]
            rows.append((c, "pending", None, tx_id))
        rows += [(c, "declined", "budget_exhausted", None) for c in declined]
        await repo.book(conn, txs, entries)
        await repo.insert_rewards(conn, rows)
        return ([new_envelope(domain.granted_fact(c), tenant_id=c.tenant_id, causation=causes[c.reward_id])
                 for c in granted] +
                [new_envelope(domain.declined_fact(c, "budget_exhausted"), tenant_id=c.tenant_id,
                              causation=causes[c.reward_id]) for c in declined])
