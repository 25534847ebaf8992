"""Granting, per batch: from the rewards the rules call for to ledger bookings and reward events.

The campaign budgets are locked first. Whoever holds a campaign's budget lock decides everything
about that campaign's rewards (what is already booked, caps, milestones, the budget itself), so
two consumers working on one campaign at once take turns and neither pays anything twice.
"""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import CampaignBudgetExhausted, CampaignBudgetWarning, RewardKind
from kaskade_contracts.ids import uuid7
from reward import domain, ledger, limits, repo, revocations, rules
from reward.domain import Campaign, Candidate

CampaignKey = tuple[str, str]
# Unambiguous to read aloud and type: no 0/O, 1/I.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_discount_code() -> str:
    """80 random bits in four groups, e.g. K7QM-2XWD-PA9F-RT4H."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


class Granting:
    def __init__(self, new_code: Callable[[], str] = new_discount_code) -> None:
        self.new_code = new_code

    async def grant(self, conn: asyncpg.Connection, items: list[tuple[Candidate, Campaign, Envelope[Any]]],
                    now: datetime) -> list[Envelope[Any]]:
        """Book what fits, decline the rest with a reason; returns the events to publish."""
        if not items:
            return []
        cause = {c.reward_id: e for c, _, e in items}
        campaign_of = {(c.tenant_id, c.campaign_id): camp for c, camp, _ in items}
        budgets = await self._lock_budgets(conn, campaign_of)
        fresh = await _fresh(conn, [c for c, _, _ in items])
        if not fresh:
            return []
        paused = [c for c in fresh if not campaign_of[(c.tenant_id, c.campaign_id)].active]
        live = [c for c in fresh if campaign_of[(c.tenant_id, c.campaign_id)].active]
        live, capped = await _within_limits(conn, live, campaign_of)
        balances = {k: b.balance for k, b in budgets.items()}
        granted, declined = domain.allocate(live, balances)
        bonuses = await _milestones(conn, granted, campaign_of, cause)
        more_granted, more_declined = domain.allocate(bonuses, balances)
        granted += more_granted
        declined += more_declined
        granted = [c if c.rule.kind is not RewardKind.discount_code else c._replace(discount_code=self.new_code())
                   for c in granted]
        booked, owed = await _book(conn, granted, budgets)
        verdicts = ([(c, "budget_exhausted") for c in declined] + capped +
                    [(c, "campaign_not_active") for c in paused])
        await repo.insert_rewards(conn, booked + [(c, "declined", reason, None) for c, reason in verdicts], now)
        events: list[Envelope[Any]] = [new_envelope(domain.granted_fact(c), tenant_id=c.tenant_id,
                                                    causation=cause[c.reward_id]) for c in granted]
        events += [new_envelope(domain.declined_fact(c, reason), tenant_id=c.tenant_id, causation=cause[c.reward_id])
                   for c, reason in verdicts]
        events += await _alerts(conn, budgets, balances, granted, declined, cause)
        events += await revocations.revoke_refunded(conn, granted, cause)
        await ledger.move_balances(conn, owed)
        return events

    async def _lock_budgets(self, conn: asyncpg.Connection, campaign_of: dict[CampaignKey, Campaign]
                            ) -> dict[ledger.BudgetKey, ledger.Budget]:
        """Every currency of every campaign in the batch, opened and funded on first use."""
        wanted = {(t, c, cur): camp.budget_minor for (t, c), camp in campaign_of.items() for cur in camp.currencies}
        budgets = await ledger.lock_budgets(conn, wanted)
        missing = {k: v for k, v in wanted.items() if k not in budgets}
        if missing:
            await ledger.fund_budgets(conn, missing)
            budgets = await ledger.lock_budgets(conn, wanted)
        return budgets


async def _fresh(conn: asyncpg.Connection, cands: list[Candidate]) -> list[Candidate]:
    """Drop what is already booked (a replay) and repeats within the batch."""
    seen = await repo.existing_rewards(conn, {c.reward_id for c in cands})
    fresh = []
    for c in cands:
        if c.reward_id not in seen:
            seen.add(c.reward_id)
            fresh.append(c)
    return fresh


async def _within_limits(conn: asyncpg.Connection, cands: list[Candidate], campaign_of: dict[CampaignKey, Campaign]
                         ) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    limited = [(c, limits.limit_for(campaign_of[(c.tenant_id, c.campaign_id)], c)) for c in cands]
    since: dict[limits.HistoryKey, datetime] = {}
    for c, limit in limited:
        if limit is not None:
            k = limits.history_key(c)
            since[k] = min(since.get(k, c.earned_at), c.earned_at - limit.period)
    if not since:
        return cands, []
    return limits.apply_limits(limited, await repo.granted_since(conn, since))


async def _milestones(conn: asyncpg.Connection, granted: list[Candidate], campaign_of: dict[CampaignKey, Campaign],
                      cause: dict[uuid.UUID, Envelope[Any]]) -> list[Candidate]:
    """Bonuses for the referrals granted now that reach a referrer's milestone. Counted under the
    budget lock and keyed without the conversion, so each is paid once."""
    referrals = [c for c in granted if c.rule.rule_id == "referrer"
                 and campaign_of[(c.tenant_id, c.campaign_id)].milestones]
    if not referrals:
        return []
    counts = await repo.referrals_rewarded(conn, {(c.tenant_id, c.campaign_id, c.recipient_id) for c in referrals})
    bonuses = []
    for c in referrals:
        k = (c.tenant_id, c.campaign_id, c.recipient_id)
        counts[k] = counts.get(k, 0) + 1
        purchase = cause[c.reward_id].payload
        bonus = rules.for_milestone(c.tenant_id, campaign_of[k[:2]], c, counts[k], purchase.amount_minor,
                                    purchase.currency)
        if bonus is not None:
            cause[bonus.reward_id] = cause[c.reward_id]
            bonuses.append(bonus)
    return await _fresh(conn, bonuses) if bonuses else []


async def _book(conn: asyncpg.Connection, granted: list[Candidate], budgets: dict[ledger.BudgetKey, ledger.Budget]
                ) -> tuple[list[tuple[Candidate, str, str | None, uuid.UUID | None]], dict[int, int]]:
    """Each grant moves its amount from the campaign budget to the recipient's pending account, or
    to the confirmed one when there is no hold. The budgets' balances move now (their locks are
    held already); the recipients' are returned, owed, for the end of the transaction."""
    def account_key(c: Candidate) -> ledger.AccountKey:
        return (c.tenant_id, f"customer_{c.status}", c.recipient_id, c.currency)
    accounts = await ledger.accounts(conn, {account_key(c) for c in granted})
    txs, entries, rows = [], [], []
    for c in granted:
        # The reward row written with it (its id derived from the idempotency key) is what refuses a
        # second grant, so the booking's id need not be derived: a time-ordered one lands at the newest
        # end of the ledger's indexes, where a derived (random) one hit a page anywhere in them.
        tx_id = uuid7()
        txs.append((tx_id, c.tenant_id, c.idempotency_key, "reward_granted"))
        entries += [(tx_id, budgets[c.budget_key].account_id, -c.amount_minor),
                    (tx_id, accounts[account_key(c)], c.amount_minor)]
        rows.append((c, c.status, None, tx_id))
    return rows, await ledger.book(conn, txs, entries, defer=set(accounts.values()))


async def _alerts(conn: asyncpg.Connection, budgets: dict[ledger.BudgetKey, ledger.Budget],
                  balances: dict[ledger.BudgetKey, int], granted: list[Candidate], declined: list[Candidate],
                  cause: dict[uuid.UUID, Envelope[Any]]) -> list[Envelope[Any]]:
    """Warnings at 80% and 95% committed and one alert when the budget turns a reward away, each
    once per budget level."""
    first = {}
    for c in granted + declined:
        first.setdefault(c.budget_key, cause[c.reward_id])
    wanted = []
    for key in first:
        b = budgets[key]
        wanted += [(*key, b.funded, f"warning_{p}") for p in limits.warnings_reached(b.funded, b.funded - balances[key])]
    wanted += [(*key, budgets[key].funded, "exhausted") for key in {c.budget_key for c in declined}]
    raised = await repo.raise_alerts(conn, wanted)
    events: list[Envelope[Any]] = []
    for t, campaign_id, currency, funded, alert in wanted:
        if (t, campaign_id, currency, funded, alert) not in raised:
            continue
        fields = {"campaign_id": campaign_id, "budget_minor": funded, "currency": currency,
                  "committed_minor": funded - balances[(t, campaign_id, currency)]}
        fact = (CampaignBudgetExhausted(**fields) if alert == "exhausted" else
                CampaignBudgetWarning(**fields, threshold_percent=int(alert.split("_")[1])))
        events.append(new_envelope(fact, tenant_id=t, causation=first[(t, campaign_id, currency)]))
    return events
