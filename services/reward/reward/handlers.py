"""reward's subscribers and periodic job: campaign definitions set rules and budgets; attributed
conversions and shares become rewards; a corrected cascade pays the upline it now reaches;
reversals revoke rewards; ended holds confirm them."""
from __future__ import annotations

import dataclasses
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import (AttributionReversed, CampaignDefined, CampaignStatus, CampaignTerms,
                                      ConversionAttributed, ConversionKind, CustomerErased, ReferralReparented,
                                      RewardKind, RewardRule, ShareRecorded)
from kaskade_platform.consumer import Unprocessable
from kaskade_platform.outbox import Outbox
from reward import confirmations, domain, ledger, repo, repo_cascade, revocations, rules
from reward.clock import Clock, SystemClock
from reward.config import Settings
from reward.grants import Granting


class Rewards:
    def __init__(self, settings: Settings, clock: Clock | None = None, granting: Granting | None = None) -> None:
        self.settings, self.clock, self.granting = settings, clock or SystemClock(), granting or Granting()
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
        await ledger.fund_budgets(conn, {(t, c.campaign_id, cur): c.budget_minor
                                         for t, c in changed for cur in c.currencies})
        return []

    async def on_erasures(self, conn: asyncpg.Connection, facts: list[Envelope[CustomerErased]]) -> list[Envelope[Any]]:
        for e in facts:
            await repo.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
            await repo_cascade.erase(conn, e.tenant_id, e.payload.customer_id, e.payload.replacement_id)
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
        items, kept = [], []
        for e in facts:
            campaign = campaigns.get((e.tenant_id, e.payload.campaign_id), self.legacy_default)
            # The attribution's time stands for the purchase's: attribution decides as it happens.
            items += [(c, campaign, e) for c in rules.for_referral(e.tenant_id, e.payload, campaign, e.occurred_at)]
            if campaign.cascade is not None and e.payload.kind is ConversionKind.purchase:
                kept.append(e)
        await repo_cascade.keep_purchases(conn, kept)
        return await self.granting.grant(conn, items, self.clock.now())

    async def on_reparented(self, conn: asyncpg.Connection,
                            facts: list[Envelope[ReferralReparented]]) -> list[Envelope[Any]]:
        """A referee's corrected place in the cascade: their purchases pay the upline levels it now
        reaches. Levels reached before are the same rewards, already booked, so nothing is paid twice.
        The correction is dated by the referral that caused it: a purchase made before that referral
        was not brought about by the new upline, which earns nothing from it."""
        campaigns = await repo.campaigns_for(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
        latest: dict[repo_cascade.RefereeKey, Envelope[ReferralReparented]] = {}
        for e in facts:  # each one states the whole binding, so the last of a referee's stands
            campaign = campaigns.get((e.tenant_id, e.payload.campaign_id))
            if campaign is not None and campaign.cascade is not None:
                latest[(e.tenant_id, e.payload.campaign_id, e.payload.referee_id)] = e
        if not latest:
            return []
        purchases = await repo_cascade.purchases_of(conn, latest)
        items = []
        for key, e in latest.items():
            campaign = campaigns[key[:2]]
            items += [(c, campaign, e) for p in purchases.get(key, []) if p.purchased_at >= e.occurred_at
                      for c in rules.for_new_upline(e.tenant_id, p, e.payload.upline, e.payload.generation, campaign)]
        return await self.granting.grant(conn, items, self.clock.now())

    async def on_shares(self, conn: asyncpg.Connection, facts: list[Envelope[ShareRecorded]]) -> list[Envelope[Any]]:
        """Only campaigns with a share reward pay for shares; any other share is not reward's business."""
        campaigns = await repo.campaigns_for(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
        items = []
        for e in facts:
            campaign = campaigns.get((e.tenant_id, e.payload.campaign_id))
            if campaign is not None and (c := rules.for_share(e.tenant_id, e.payload, campaign, e.occurred_at)):
                items.append((c, campaign, e))
        return await self.granting.grant(conn, items, self.clock.now())

    async def on_reversed(self, conn: asyncpg.Connection,
                          facts: list[Envelope[AttributionReversed]]) -> list[Envelope[Any]]:
        return await revocations.revoke(conn, facts)

    async def confirm_due(self, conn: asyncpg.Connection, tenants: list[str] | None = None) -> list[Envelope[Any]]:
        """The periodic job (tests scope it to their tenants)."""
        return await confirmations.confirm_due(conn, self.clock.now(), self.settings.confirm_batch, tenants)
