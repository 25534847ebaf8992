"""reward's subscribers: campaign definitions set rules and budgets; attributed conversions
become ledger bookings and reward events."""
from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (CampaignDefined, CampaignStatus, CampaignTerms, ConversionAttributed,
                                      CustomerErased, RewardKind, RewardRule)
from kaskade_platform.outbox import Outbox
from kaskade_platform.consumer import Unprocessable
from reward import domain, repo
from reward.config import Settings


class Rewards:
    def __init__(self, settings: Settings) -> None:
        # Tenants whose default campaign predates campaign definitions are paid by these terms.
        legacy = domain.Campaign.from_terms("default", CampaignStatus.active, CampaignTerms(
            landing_url="https://example.com/", budget_minor=settings.default_budget_minor,
            referrer_reward=RewardRule(amount_minor=settings.default_referrer_reward_minor,
                                       kind=RewardKind(settings.default_reward_kind))))
        # Keep the rule id rewards were first booked under, so their idempotency keys still match.
        self.legacy_default = dataclasses.replace(legacy, referrer=dataclasses.replace(legacy.referrer,
                                                                                       rule_id="referrer-fixed"))

    async def on_campaigns(self, conn: asyncpg.Connection,
                           facts: list[Envelope[CampaignDefined]]) -> list[Envelope[Any]]:
        changed = await repo.upsert_campaigns(conn, facts)
        await repo.fund_budgets(conn, {(t, c.campaign_id, c.currency): c.budget_minor for t, c in changed})
        return []

    async def on_erasures(self, conn: asyncpg.Connection, facts: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
        for e in facts:
            await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
            await Outbox.forget(conn, e.tenant_id, e.payload.customer_id)
        return []

    async def on_attributed(self, conn: asyncpg.Connection,
                            facts: list[Envelope[ConversionAttributed]]) -> list[Envelope[Any]]:
        campaigns = await repo.campaigns_for(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
        unknown = {e.event_id: ("unknown_campaign", f"no definition of campaign {e.payload.campaign_id!r}")
                   for e in facts if (e.tenant_id, e.payload.campaign_id) not in campaigns
                   and e.payload.campaign_id != "default"}
        if unknown:
            raise Unprocessable("unknown_campaign", "attributions for undefined campaigns", unknown)
        cands: list[domain.Candidate] = []
        causes: dict[uuid.UUID, Envelope[ConversionAttributed]] = {}
        inactive: set[uuid.UUID] = set()
        for e in facts:
            campaign = campaigns.get((e.tenant_id, e.payload.campaign_id), self.legacy_default)
            for c in domain.candidates(e.tenant_id, e.payload, campaign):
                cands.append(c)
                causes[c.reward_id] = e
                if not campaign.active:
                    inactive.add(c.reward_id)
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
        paused = [c for c in fresh if c.reward_id in inactive]
        fresh = [c for c in fresh if c.reward_id not in inactive]
        budgets = await repo.lock_budgets(conn, {c.budget_key for c in fresh})
        missing = {c.budget_key for c in fresh} - set(budgets)
        if missing:  # first reward of a campaign whose definition had no budget account yet
            await repo.fund_budgets(conn, {k: campaigns.get(k[:2], self.legacy_default).budget_minor
                                           for k in missing})
            budgets = await repo.lock_budgets(conn, {c.budget_key for c in fresh})
        granted, declined = domain.allocate(fresh, {k: bal for k, (_, bal) in budgets.items()})
        await self._book(conn, granted, budgets)
        await repo.insert_rewards(conn, [(c, "declined", "budget_exhausted", None) for c in declined] +
                                  [(c, "declined", "campaign_not_active", None) for c in paused])
        return ([new_envelope(domain.granted_fact(c), tenant_id=c.tenant_id, causation=causes[c.reward_id])
                 for c in granted] +
                [new_envelope(domain.declined_fact(c, "budget_exhausted"), tenant_id=c.tenant_id,
                              causation=causes[c.reward_id]) for c in declined] +
                [new_envelope(domain.declined_fact(c, "campaign_not_active"), tenant_id=c.tenant_id,
                              causation=causes[c.reward_id]) for c in paused])

    async def _book(self, conn: asyncpg.Connection, granted: list[domain.Candidate],
                    budgets: dict[repo.BudgetKey, tuple[int, int]]) -> None:
        """Each grant moves its amount from the campaign budget to the recipient's account."""
        accounts = await repo.customer_accounts(conn, {(c.tenant_id, c.recipient_id, c.currency) for c in granted})
        txs, entries, rows = [], [], []
        for c in granted:
            tx_id = uuid.uuid5(domain.REWARD_NAMESPACE, f"tx\x00{c.reward_id}")
            txs.append((tx_id, c.tenant_id, c.idempotency_key, "reward_granted"))
            entries += [(tx_id, budgets[c.budget_key][0], -c.amount_minor),
                        (tx_id, accounts[(c.tenant_id, c.recipient_id, c.currency)], c.amount_minor)]
            rows.append((c, "pending", None, tx_id))
        await repo.book(conn, txs, entries)
        await repo.insert_rewards(conn, rows)
