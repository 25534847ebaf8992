"""Ledger invariants under random programs of grants, refunds, confirmations, replays and two
consumers working at once, against real Postgres (one fresh tenant per example).

The handlers are called directly, one transaction per batch as the batch consumer runs them;
"concurrent" batches are split between two transactions on two connections that run at once.
After every program:
- each ledger transaction sums to zero, and every balance is the sum of its entries;
- no campaign budget is below zero;
- the ledger agrees with the rewards: budget = funded - granted + revoked, and each customer's
  pending and confirmed balances are what their pending and confirmed rewards are still worth;
- replaying every event (new event ids, another batching) leaves the ledger exactly as it was.
"""
from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import groupby
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (AttributionPath, AttributionReversed, CampaignDefined, CampaignStatus,
                                      CampaignTerms, CascadeReward, ConversionAttributed, ConversionKind, Milestone,
                                      RefundKind, RewardRule)
from reward import confirmations
from reward.config import Settings
from reward.handlers import Rewards

pytestmark = pytest.mark.integration
# Purchases "happen" a year ahead, so the service's own confirmation job (real time) never touches them.
T0 = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(days=365)
PEOPLE = ["ann", "bo", "cy", "di", "ed"]


@dataclass(frozen=True)
class Scenario:
    budget: int
    referrer: int
    referee: int
    holding_days: int
    cascade: bool
    milestone: bool
    purchases: list[tuple[int, int, int]]  # referrer, referee (indexes into PEOPLE), amount
    program: list[tuple[Any, ...]]  # ("grant", i) | ("refund", i, percent) | ("confirm", days)
    cuts: list[int]  # batch sizes
    concurrent: list[bool]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    purchases = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(100, 5000)),
                              min_size=1, max_size=6))
    n = len(purchases)
    op = st.one_of(st.tuples(st.just("grant"), st.integers(0, n - 1)),
                   st.tuples(st.just("refund"), st.integers(0, n - 1), st.integers(1, 100)),
                   st.tuples(st.just("confirm"), st.integers(0, 20)))
    program = draw(st.lists(op, min_size=1, max_size=20))
    return Scenario(budget=draw(st.integers(0, 4000)), referrer=draw(st.integers(0, 900)),
                    referee=draw(st.integers(0, 500)), holding_days=draw(st.sampled_from([0, 7])),
                    cascade=draw(st.booleans()), milestone=draw(st.booleans()), purchases=purchases, program=program,
                    cuts=draw(st.lists(st.integers(1, 6), min_size=1, max_size=8)),
                    concurrent=draw(st.lists(st.booleans(), min_size=1, max_size=8)))


class Player:
    """Turns a scenario into events and feeds them to the handlers, batch by batch."""

    def __init__(self, pool: asyncpg.Pool, s: Scenario) -> None:
        self.pool, self.s, self.tenant = pool, s, f"rwp-{uuid.uuid4().hex[:10]}"
        self.rewards = Rewards(Settings())
        self.conversions = [uuid.uuid4() for _ in s.purchases]
        self.refunded = [0] * len(s.purchases)
        self.handlers = {CampaignDefined: self.rewards.on_campaigns, ConversionAttributed: self.rewards.on_attributed,
                         AttributionReversed: self.rewards.on_reversed}

    def campaign(self) -> Envelope[CampaignDefined]:
        s = self.s
        return new_envelope(CampaignDefined(campaign_id="prop", version=1, status=CampaignStatus.active, terms=CampaignTerms(
            landing_url="https://shop.example.com/", budget_minor=s.budget, holding_days=s.holding_days,
            referrer_reward=RewardRule(amount_minor=s.referrer, percent_bps=500),
            referee_reward=RewardRule(amount_minor=s.referee),
            cascade=CascadeReward(fraction_bps=3000, max_depth=2) if s.cascade else None,
            milestones=[Milestone(referrals=2, reward=RewardRule(amount_minor=250))] if s.milestone else [])),
            tenant_id=self.tenant)

    def events(self) -> list[Envelope[Any] | int]:
        """The program as events; an int is a confirmation run that many days after T0."""
        out: list[Envelope[Any] | int] = []
        for op in self.s.program:
            if op[0] == "confirm":
                out.append(op[1])
                continue
            i = op[1]
            referrer, referee, amount = self.s.purchases[i]
            if op[0] == "grant":
                out.append(new_envelope(ConversionAttributed(
                    conversion_id=self.conversions[i], campaign_id="prop", kind=ConversionKind.purchase,
                    amount_minor=amount, currency="EUR", referee_id=f"{PEOPLE[referee]}-{i}",
                    referrer_id=PEOPLE[referrer], root_seeder_id=PEOPLE[referrer], generation=1,
                    path=AttributionPath.click, upline=[p for p in PEOPLE if p != PEOPLE[referrer]][:2]),
                    tenant_id=self.tenant, occurred_at=T0))
            else:
                part = max(1, amount * op[2] // 100)
                self.refunded[i] = min(amount, self.refunded[i] + part)
                out.append(new_envelope(AttributionReversed(
                    conversion_id=self.conversions[i], refund_id=uuid.uuid4(), campaign_id="prop",
                    kind=RefundKind.refund, referee_id=f"{PEOPLE[referee]}-{i}", referrer_id=PEOPLE[referrer],
                    amount_minor=part, refunded_total_minor=self.refunded[i], conversion_amount_minor=amount,
                    currency="EUR", full=self.refunded[i] >= amount), tenant_id=self.tenant))
        return out

    async def transaction(self, batch: list[Envelope[Any] | int]) -> None:
        for attempt in range(10):  # a deadlock between two consumers is retried, as the consumer does
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    for kind, run in groupby(batch, key=lambda e: e if isinstance(e, int) else type(e.payload)):
                        if isinstance(kind, int):
                            await confirmations.confirm_due(conn, T0 + timedelta(days=kind), 1000, [self.tenant])
                        else:
                            await self.handlers[kind](conn, list(run))
                return
            except asyncpg.DeadlockDetectedError:
                await asyncio.sleep(0.01 * attempt)
        raise AssertionError("deadlocked ten times")

    async def play(self, events: list[Envelope[Any] | int], cuts: list[int], concurrent: list[bool]) -> None:
        i = 0
        for n in range(len(events)):
            if i >= len(events):
                break
            size, together = cuts[n % len(cuts)], concurrent[n % len(concurrent)]
            batch, i = events[i:i + size], i + size
            if together and len(batch) > 1:
                await asyncio.gather(self.transaction(batch[0::2]), self.transaction(batch[1::2]))
            else:
                await self.transaction(batch)


async def ledger(db: asyncpg.Pool, tenant: str) -> list[tuple[Any, ...]]:
    rows = await db.fetch(
        """SELECT t.idempotency_key, t.kind, a.kind AS account, a.owner_id, a.currency, e.amount
           FROM ledger_transactions t JOIN ledger_entries e USING (tx_id) JOIN accounts a USING (account_id)
           WHERE t.tenant_id = $1 AND t.kind <> 'budget_funded'""", tenant)
    return sorted(tuple(r) for r in rows)


async def assert_invariants(db: asyncpg.Pool, tenant: str, budget: int) -> None:
    unbalanced = await db.fetch("""SELECT t.tx_id FROM ledger_transactions t LEFT JOIN ledger_entries e USING (tx_id)
                                   WHERE t.tenant_id = $1 GROUP BY t.tx_id
                                   HAVING coalesce(sum(e.amount), 1) <> 0 OR count(e.*) < 2""", tenant)
    assert unbalanced == []
    drift = await db.fetch("""WITH sums AS (SELECT e.account_id, sum(e.amount) AS total FROM ledger_transactions t
                                            JOIN ledger_entries e USING (tx_id) WHERE t.tenant_id = $1 GROUP BY 1)
                              SELECT a.account_id FROM accounts a LEFT JOIN sums USING (account_id)
                              WHERE a.tenant_id = $1 AND a.balance <> coalesce(sums.total, 0)""", tenant)
    assert drift == []
    budgets = await db.fetch("SELECT currency, balance FROM accounts WHERE tenant_id = $1 AND kind = 'campaign_budget'",
                             tenant)
    assert all(b["balance"] >= 0 for b in budgets)
    outstanding = dict(await db.fetch("""SELECT currency, sum(amount_minor - revoked_minor) FROM rewards
                                         WHERE tenant_id = $1 AND tx_id IS NOT NULL GROUP BY currency""", tenant))
    assert {b["currency"]: budget - outstanding.get(b["currency"], 0) for b in budgets} == {
        b["currency"]: b["balance"] for b in budgets}
    worth = await db.fetch("""SELECT 'customer_' || status AS kind, recipient_id, currency,
                                     sum(amount_minor - revoked_minor) AS worth
                              FROM rewards WHERE tenant_id = $1 AND status IN ('pending', 'confirmed')
                              GROUP BY 1, 2, 3""", tenant)
    balances = await db.fetch("""SELECT kind, owner_id, currency, balance FROM accounts WHERE tenant_id = $1
                                 AND kind LIKE 'customer_%' AND balance <> 0""", tenant)
    assert {(r["kind"], r["recipient_id"], r["currency"]): r["worth"] for r in worth if r["worth"]} == {
        (r["kind"], r["owner_id"], r["currency"]): r["balance"] for r in balances}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(s=scenarios())
async def test_the_ledger_keeps_its_invariants_and_a_replay_changes_nothing(db: asyncpg.Pool, s: Scenario) -> None:
    p = Player(db, s)
    await p.transaction([p.campaign()])
    events = p.events()
    await p.play(events, s.cuts, s.concurrent)
    await assert_invariants(db, p.tenant, s.budget)
    before = await ledger(db, p.tenant)

    replay = [e if isinstance(e, int) else e.model_copy(update={"event_id": uuid.uuid4()}) for e in events
              if not isinstance(e, int)]
    await p.play(replay[::-1], s.cuts[::-1], [not c for c in s.concurrent])

    assert await ledger(db, p.tenant) == before
    await assert_invariants(db, p.tenant, s.budget)
