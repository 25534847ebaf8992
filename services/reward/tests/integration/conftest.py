"""reward against real Kafka and Postgres: the service runs in this process with a manual clock;
tests publish CampaignDefined, ConversionAttributed, AttributionReversed and ShareRecorded onto
their topics and read verdicts from kaskade.rewards.v1 and rows from the ledger.

Each test has its own tenant and a `Kit` bound to it. A campaign version is applied (its event
id is in processed_events) before what depends on it is published. Reward events are keyed by
tenant:recipient, so a test waits for as many verdicts as it expects, then reads the rows
committed with them. The service's periodic confirmation job runs with a clock that never moves
(the DB is shared: moving it would confirm other runs' rewards); a test moves its Kit's own clock
and runs the same job for its own tenant with `Kit.confirm`.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (AttributionPath, AttributionReversed, CampaignDefined, CampaignStatus,
                                      CampaignTerms, Channel, ConversionAttributed, ConversionKind, RefundKind,
                                      ReferralReparented, RewardRule, ShareRecorded)
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce
from kaskade_platform.runtime import ServiceRuntime
from reward.app import build
from reward.clock import ManualClock
from reward.config import Settings
from reward.handlers import Rewards

WAIT_S = 30


@pytest.fixture(scope="session")
async def runtime(infra: Any) -> AsyncIterator[ServiceRuntime]:
    rt = build(Settings(confirm_interval_s=0.5), ManualClock())
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture(scope="session")
def db(runtime: ServiceRuntime) -> asyncpg.Pool:
    return runtime.pool  # the service's own role, its schema unqualified


@pytest.fixture
async def kit(infra: Any, runtime: ServiceRuntime) -> AsyncIterator["Kit"]:
    k = Kit(f"rw-{uuid.uuid4().hex[:10]}", infra.kafka_bootstrap_servers, runtime, ManualClock())
    async with TopicWatcher(k.bootstrap, (topics.REWARDS.name,), keep=for_tenant(k.tenant)) as out, \
            TopicWatcher(k.bootstrap, (topics.ATTRIBUTIONS.dead_letter, topics.SHARES.dead_letter),
                         keep=for_tenant(k.tenant)) as dlq:
        k.out, k.dlq = out, dlq
        yield k


class Kit:
    """Builds one tenant's events, publishes them and reads what reward made of them."""

    def __init__(self, tenant: str, bootstrap: str, runtime: ServiceRuntime, clock: ManualClock) -> None:
        self.tenant, self.bootstrap, self.runtime, self.clock = tenant, bootstrap, runtime, clock
        self.db: asyncpg.Pool = runtime.pool
        self.rewards = Rewards(runtime.settings, clock)  # type: ignore[arg-type]
        self.out: TopicWatcher
        self.dlq: TopicWatcher

    # --- events -------------------------------------------------------------------------------
    def campaign(self, version: int, *, status: str = "active", referrer: int | RewardRule = 500,
                 referee: int | RewardRule = 0, campaign_id: str = "spring", **terms: Any) -> Envelope[CampaignDefined]:
        def rule(r: int | RewardRule) -> RewardRule:
            return r if isinstance(r, RewardRule) else RewardRule(amount_minor=r)
        return new_envelope(CampaignDefined(
            campaign_id=campaign_id, version=version, status=CampaignStatus(status),
            terms=CampaignTerms(landing_url="https://shop.example.com/", referrer_reward=rule(referrer),
                                referee_reward=rule(referee), **terms)), tenant_id=self.tenant)

    def attributed(self, referee: str, *, referrer: str = "anna", campaign: str = "default",
                   kind: ConversionKind = ConversionKind.purchase, conversion_id: uuid.UUID | None = None,
                   currency: str = "EUR", amount: int = 4999, upline: list[str] | None = None,
                   at: datetime | None = None) -> Envelope[ConversionAttributed]:
        return new_envelope(ConversionAttributed(
            conversion_id=conversion_id or uuid.uuid4(), campaign_id=campaign, kind=kind, amount_minor=amount,
            currency=currency, referee_id=referee, referrer_id=referrer, root_seeder_id=referrer, generation=1,
            path=AttributionPath.referral_code, upline=upline or []), tenant_id=self.tenant, occurred_at=at)

    def reparented(self, referee: str, *, upline: list[str], referrer: str = "anna", campaign: str = "spring",
                   generation: int = 2, at: datetime | None = None) -> Envelope[ReferralReparented]:
        """`at`: when the referral that caused the correction happened."""
        return new_envelope(ReferralReparented(
            campaign_id=campaign, referee_id=referee, referrer_id=referrer, conversion_id=uuid.uuid4(),
            root_seeder_id=upline[-1] if upline else referrer, generation=generation, upline=upline),
            tenant_id=self.tenant, occurred_at=at)

    def reversed(self, fact: Envelope[ConversionAttributed], refunded_total: int, *, amount: int | None = None,
                 kind: RefundKind = RefundKind.refund, refund_id: uuid.UUID | None = None
                 ) -> Envelope[AttributionReversed]:
        p = fact.payload
        return new_envelope(AttributionReversed(
            conversion_id=p.conversion_id, refund_id=refund_id or uuid.uuid4(), campaign_id=p.campaign_id, kind=kind,
            referee_id=p.referee_id, referrer_id=p.referrer_id, amount_minor=refunded_total if amount is None else amount,
            refunded_total_minor=refunded_total, conversion_amount_minor=p.amount_minor, currency=p.currency,
            full=refunded_total >= p.amount_minor), tenant_id=self.tenant)

    def shared(self, sharer: str, *, campaign: str = "spring", at: datetime | None = None,
               share_id: uuid.UUID | None = None) -> Envelope[ShareRecorded]:
        return new_envelope(ShareRecorded(
            share_id=share_id or uuid.uuid4(), campaign_id=campaign, sharer_id=sharer, channel=Channel.whatsapp,
            referral_code=f"code{uuid.uuid4().hex[:8]}", referral_url="https://go.example.com/r/x"),
            tenant_id=self.tenant, occurred_at=at)

    # --- publishing ---------------------------------------------------------------------------
    async def send(self, *events: Envelope[Any]) -> None:
        await produce(self.bootstrap, events)

    async def define(self, *versions: Envelope[CampaignDefined]) -> None:
        """Publish campaign versions one by one, each applied before the next is sent."""
        for v in versions:
            await self.send(v)
            await self.applied(v)

    async def applied(self, *events: Envelope[Any]) -> None:
        deadline = time.monotonic() + WAIT_S
        for e in events:
            while not await self.db.fetchval("SELECT 1 FROM processed_events WHERE event_id = $1", e.event_id):
                assert time.monotonic() < deadline, f"{e.event_type} was not applied"
                await asyncio.sleep(0.05)

    async def confirm(self) -> list[Envelope[Any]]:
        """Run the confirmation job now (by the manual clock), for this tenant only."""
        emitted: list[Envelope[Any]] = []

        async def job(conn: asyncpg.Connection) -> list[Envelope[Any]]:
            emitted.extend(await self.rewards.confirm_due(conn, [self.tenant]))
            return emitted
        await self.runtime.run_job(job)
        return emitted

    # --- reading ------------------------------------------------------------------------------
    async def verdicts(self, n: int, of: str | None = None) -> list[Envelope[Any]]:
        """Wait until `n` events (of type `of`) came out; returns them all, in order."""
        await self.out.wait_for(lambda w: len(w.events(of) if of else w.events()) >= n, WAIT_S,
                                f"{n} {of or 'reward'} event(s)")
        return self.out.events(of) if of else self.out.events()

    async def rewards_for(self, *facts: Envelope[Any], each: int = 1) -> list[Envelope[Any]]:
        """Wait until every conversion has `each` reward verdicts; returns all verdicts seen."""
        def done(w: TopicWatcher) -> bool:
            got = [getattr(e.payload, "conversion_id", None) for e in w.events()]
            return all(got.count(f.payload.conversion_id) >= each for f in facts)
        await self.out.wait_for(done, WAIT_S, f"{each} reward verdict(s) for each of {len(facts)} conversions")
        return self.out.events()

    async def budget(self, campaign: str = "spring", currency: str = "EUR") -> asyncpg.Record:
        """The budget's balance, its funding account's balance, and each funding booking, oldest first."""
        return await self.db.fetchrow(
            """SELECT a.balance, f.balance AS funding,
                      array(SELECT e.amount FROM ledger_entries e JOIN ledger_transactions t USING (tx_id)
                            WHERE e.account_id = a.account_id AND t.kind = 'budget_funded'
                            ORDER BY t.created_at) AS funded
               FROM accounts a JOIN accounts f ON f.tenant_id = a.tenant_id AND f.kind = 'funding'
                 AND f.owner_id = a.owner_id AND f.currency = a.currency
               WHERE a.tenant_id = $1 AND a.kind = 'campaign_budget' AND a.owner_id = $2 AND a.currency = $3""",
            self.tenant, campaign, currency)

    async def earned(self, status: str = "pending") -> dict[str, int]:
        """Each customer's pending (or confirmed) balance, for those with an account."""
        return dict(await self.db.fetch("SELECT owner_id, balance FROM accounts WHERE tenant_id = $1 AND kind = $2",
                                        self.tenant, f"customer_{status}"))

    async def assert_ledger_balances(self) -> None:
        sums = await self.db.fetch("""SELECT t.kind, sum(e.amount) AS total FROM ledger_transactions t
                                      JOIN ledger_entries e USING (tx_id) WHERE t.tenant_id = $1 GROUP BY t.tx_id""",
                                   self.tenant)
        assert sums and all(r["total"] == 0 for r in sums), [tuple(r) for r in sums]


def summary(verdicts: list[Envelope[Any]]) -> list[tuple[str, str, str, int]]:
    return sorted((e.event_type, e.payload.recipient_id, e.payload.role, e.payload.amount_minor) for e in verdicts)


@pytest.fixture
def summarize() -> Callable[[list[Envelope[Any]]], list[tuple[str, str, str, int]]]:
    return summary


def days_ago(n: float) -> datetime:
    return datetime.now(timezone.utc) - timedelta(days=n)


@pytest.fixture
def ago() -> Callable[[float], datetime]:
    return days_ago
