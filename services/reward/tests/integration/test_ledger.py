"""reward against real Kafka and Postgres: CampaignDefined and ConversionAttributed published onto
their topics, rewards read from kaskade.rewards.v1 and from the double-entry ledger.

A campaign version is applied (its event id is in processed_events) before the attributions that
depend on it are published. Reward events are keyed by tenant:recipient, so a test waits for as
many verdicts as it expects, then reads the rows committed with them.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, encode_envelope, new_envelope
from kaskade_contracts.events import (AttributionPath, CampaignDefined, CampaignStatus, CampaignTerms,
                                      ConversionAttributed, ConversionKind, RewardKind, RewardRule)
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce
from kaskade_platform.runtime import ServiceRuntime
from reward import domain, repo
from reward.app import build
from reward.config import Settings
from reward.handlers import Rewards

pytestmark = pytest.mark.integration
WAIT_S = 30
Send = Callable[..., Awaitable[None]]


@pytest.fixture(scope="module")
async def runtime(infra: Any) -> AsyncIterator[ServiceRuntime]:
    rt = build(Settings())
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture(scope="module")
def db(runtime: ServiceRuntime) -> asyncpg.Pool:
    return runtime.pool  # the service's own role, its schema unqualified


@pytest.fixture(scope="module")
def send(infra: Any) -> Send:
    async def send(*events: Envelope[Any]) -> None:
        await produce(infra.kafka_bootstrap_servers, events)
    return send


@pytest.fixture(scope="module")
def define(send: Send, db: asyncpg.Pool) -> Send:
    async def define(*versions: Envelope[CampaignDefined]) -> None:
        """Publish campaign versions one by one, each applied before the next is sent."""
        for v in versions:
            await send(v)
            deadline = time.monotonic() + WAIT_S
            while not await db.fetchval("SELECT 1 FROM processed_events WHERE event_id = $1", v.event_id):
                assert time.monotonic() < deadline, f"campaign version {v.payload.version} was not applied"
                await asyncio.sleep(0.05)
    return define


@pytest.fixture
async def tenant(runtime: ServiceRuntime) -> str:
    return f"rw-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def out(infra: Any, tenant: str) -> AsyncIterator[TopicWatcher]:
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as w:
        yield w


@pytest.fixture
async def dlq(infra: Any, tenant: str) -> AsyncIterator[TopicWatcher]:
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.ATTRIBUTIONS.dead_letter,),
                            keep=for_tenant(tenant)) as w:
        yield w


def campaign(tenant: str, version: int, *, status: str = "active", referrer: int | RewardRule = 500,
             referee: int | RewardRule = 0, **terms: Any) -> Envelope[CampaignDefined]:
    def rule(r: int | RewardRule) -> RewardRule:
        return r if isinstance(r, RewardRule) else RewardRule(amount_minor=r)
    return new_envelope(CampaignDefined(
        campaign_id="spring", version=version, status=CampaignStatus(status),
        terms=CampaignTerms(landing_url="https://shop.example.com/", referrer_reward=rule(referrer),
                            referee_reward=rule(referee), **terms)), tenant_id=tenant)


def attributed(tenant: str, referee: str, *, referrer: str = "anna", campaign: str = "default",
               kind: ConversionKind = ConversionKind.purchase, conversion_id: uuid.UUID | None = None,
               currency: str = "EUR") -> Envelope[ConversionAttributed]:
    return new_envelope(ConversionAttributed(
        conversion_id=conversion_id or uuid.uuid4(), campaign_id=campaign, kind=kind, amount_minor=4999,
        currency=currency, referee_id=referee, referrer_id=referrer, root_seeder_id=referrer, generation=1,
        path=AttributionPath.referral_code), tenant_id=tenant)


async def rewards_for(out: TopicWatcher, *facts: Envelope[ConversionAttributed], each: int = 1) -> list[Envelope[Any]]:
    """Wait until every fact has `each` reward verdicts; returns all verdicts seen, in order."""
    def done(w: TopicWatcher) -> bool:
        got = [e.payload.conversion_id for e in w.events()]
        return all(got.count(f.payload.conversion_id) >= each for f in facts)
    await out.wait_for(done, WAIT_S, f"{each} reward verdict(s) for each of {len(facts)} conversions")
    return out.events()


def summary(verdicts: list[Envelope[Any]]) -> list[tuple[str, str, str, int]]:
    return sorted((e.event_type, e.payload.recipient_id, e.payload.role, e.payload.amount_minor) for e in verdicts)


async def budget(db: asyncpg.Pool, tenant: str, campaign: str = "spring") -> asyncpg.Record:
    """The budget's balance, its funding account's balance, and each funding booking, oldest first."""
    return await db.fetchrow(
        """SELECT a.balance, f.balance AS funding,
                  array(SELECT e.amount FROM ledger_entries e JOIN ledger_transactions t USING (tx_id)
                        WHERE e.account_id = a.account_id AND t.kind = 'budget_funded' ORDER BY t.created_at) AS funded
           FROM accounts a JOIN accounts f ON f.tenant_id = a.tenant_id AND f.kind = 'funding'
             AND f.owner_id = a.owner_id AND f.currency = a.currency
           WHERE a.tenant_id = $1 AND a.kind = 'campaign_budget' AND a.owner_id = $2""", tenant, campaign)


async def earned(db: asyncpg.Pool, tenant: str) -> dict[str, int]:
    return dict(await db.fetch("SELECT owner_id, balance FROM accounts WHERE tenant_id = $1 "
                               "AND kind = 'customer_rewards'", tenant))


async def assert_ledger_balances(db: asyncpg.Pool, tenant: str) -> None:
    sums = await db.fetch("""SELECT t.kind, sum(e.amount) AS total FROM ledger_transactions t
                             JOIN ledger_entries e USING (tx_id) WHERE t.tenant_id = $1 GROUP BY t.tx_id""", tenant)
    assert sums and all(r["total"] == 0 for r in sums), [tuple(r) for r in sums]


async def test_a_referred_purchase_grants_the_referrer_the_default_reward(out: TopicWatcher, db: asyncpg.Pool,
                                                                          tenant: str, send: Send) -> None:
    fact = attributed(tenant, "ben")
    await send(fact)

    (granted,) = await rewards_for(out, fact)
    g = granted.payload
    assert granted.event_type == "RewardGranted" and granted.causation_id == fact.event_id
    assert (g.recipient_id, g.role, g.amount_minor, g.currency, g.kind) == ("anna", "referrer", 500, "EUR",
                                                                            "account_credit")
    key = domain.idempotency_key("default", fact.payload.conversion_id, g.rule_id, "anna")
    assert (g.idempotency_key, g.reward_id) == (key, uuid.uuid5(domain.REWARD_NAMESPACE, f"{tenant}\x00{key}"))
    row = await db.fetchrow("SELECT status, amount_minor, tx_id FROM rewards WHERE reward_id = $1", g.reward_id)
    assert (row["status"], row["amount_minor"]) == ("pending", 500) and row["tx_id"] is not None


async def test_the_same_attribution_twice_is_rewarded_once(out: TopicWatcher, dlq: TopicWatcher, db: asyncpg.Pool,
                                                           tenant: str, send: Send) -> None:
    fact = attributed(tenant, "ben")
    await send(fact, attributed(tenant, "ben", conversion_id=fact.payload.conversion_id))  # both in one batch
    await rewards_for(out, fact)
    sentinel = attributed(tenant, "cleo")
    await send(attributed(tenant, "ben", conversion_id=fact.payload.conversion_id), sentinel)  # and once more, later
    verdicts = await rewards_for(out, sentinel)
    await asyncio.sleep(1)  # a dead letter is published right after its batch commits

    assert dlq.seen == []  # a replay is a no-op, not a failure
    assert [e.payload.conversion_id for e in verdicts] == [fact.payload.conversion_id, sentinel.payload.conversion_id]
    assert await db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1 AND conversion_id = $2",
                             tenant, fact.payload.conversion_id) == 1


async def test_the_ledger_balances_and_the_budget_is_funded_minus_granted(out: TopicWatcher, db: asyncpg.Pool,
                                                                          tenant: str, send: Send,
                                                                          runtime: ServiceRuntime) -> None:
    funded = runtime.settings.default_budget_minor  # type: ignore[attr-defined]
    facts = [attributed(tenant, f"friend-{i}", referrer="anna" if i < 2 else "bert") for i in range(3)]
    await send(*facts)
    await rewards_for(out, *facts)

    await assert_ledger_balances(db, tenant)
    b = await budget(db, tenant, "default")
    assert (b["funded"], b["balance"], b["funding"]) == ([funded], funded - 3 * 500, -funded)
    assert await earned(db, tenant) == {"anna": 1000, "bert": 500}


async def test_a_double_sided_campaign_rewards_referrer_and_referee_per_purchase_not_per_signup(
        out: TopicWatcher, db: asyncpg.Pool, tenant: str, send: Send, define: Send) -> None:
    await define(campaign(tenant, 1, referrer=300, referee=200, budget_minor=10_000))
    facts = [attributed(tenant, referee, campaign="spring") for referee in ("ben", "cleo")]
    signup = attributed(tenant, "dora", campaign="spring", kind=ConversionKind.signup)
    await send(signup, *facts)  # one partition: the signup is decided before the purchases

    verdicts = await rewards_for(out, *facts, each=2)
    assert summary(verdicts) == [("RewardGranted", "anna", "referrer", 300), ("RewardGranted", "anna", "referrer", 300),
                                 ("RewardGranted", "ben", "referee", 200), ("RewardGranted", "cleo", "referee", 200)]
    assert len({e.payload.reward_id for e in verdicts}) == len({e.payload.idempotency_key for e in verdicts}) == 4
    assert await db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", tenant) == 4
    assert await earned(db, tenant) == {"anna": 600, "ben": 200, "cleo": 200}
    assert (await budget(db, tenant))["balance"] == 10_000 - 1000
    await assert_ledger_balances(db, tenant)


async def test_a_percentage_reward_is_a_floored_share_of_a_purchase_in_the_campaign_currency(
        out: TopicWatcher, db: asyncpg.Pool, tenant: str, send: Send, define: Send) -> None:
    await define(campaign(tenant, 1, referrer=RewardRule(amount_minor=100, percent_bps=1000),
                          referee=RewardRule(percent_bps=500, kind=RewardKind.points)))
    eur, usd = attributed(tenant, "ben", campaign="spring"), attributed(tenant, "cleo", campaign="spring",
                                                                       currency="USD")
    await send(eur, usd)

    await rewards_for(out, usd)  # a USD purchase earns the fixed part only, and its referee nothing
    verdicts = await rewards_for(out, eur, each=2)
    assert summary(verdicts) == [("RewardGranted", "anna", "referrer", 100), ("RewardGranted", "anna", "referrer", 599),
                                 ("RewardGranted", "ben", "referee", 249)]
    assert {(e.payload.role, e.payload.kind, e.payload.currency) for e in verdicts} == {
        ("referrer", "account_credit", "EUR"), ("referee", "points", "EUR")}
    assert await earned(db, tenant) == {"anna": 699, "ben": 249}


async def test_an_exhausted_budget_declines_until_a_new_version_raises_it(
        out: TopicWatcher, db: asyncpg.Pool, tenant: str, send: Send, define: Send) -> None:
    await define(campaign(tenant, 1, budget_minor=1000))
    facts = [attributed(tenant, f"friend-{i}", campaign="spring") for i in range(3)]
    await send(*facts)

    verdicts = await rewards_for(out, *facts)
    assert [(e.event_type, e.payload.conversion_id) for e in verdicts] == [
        ("RewardGranted", facts[0].payload.conversion_id), ("RewardGranted", facts[1].payload.conversion_id),
        ("RewardDeclined", facts[2].payload.conversion_id)]
    assert verdicts[2].payload.reason == "budget_exhausted"
    b = await budget(db, tenant)  # funded from the definition, and spent to the last cent
    assert (b["funded"], b["balance"], b["funding"]) == ([1000], 0, -1000)
    statuses = await db.fetch("SELECT status, decline_reason, tx_id FROM rewards WHERE tenant_id = $1 ORDER BY status",
                              tenant)
    assert [(r["status"], r["decline_reason"], r["tx_id"] is None) for r in statuses] == [
        ("declined", "budget_exhausted", True), ("pending", None, False), ("pending", None, False)]
    with pytest.raises(asyncpg.CheckViolationError, match="budget_never_negative"):  # even if Python were wrong
        await db.execute("UPDATE accounts SET balance = -1 WHERE tenant_id = $1 AND kind = 'campaign_budget'", tenant)

    await define(campaign(tenant, 2, budget_minor=1500))  # booked as an adjustment of +500
    later = [attributed(tenant, f"friend-{i}", campaign="spring") for i in range(3, 5)]
    await send(*later)
    verdicts = await rewards_for(out, *later)
    assert [e.event_type for e in verdicts[3:]] == ["RewardGranted", "RewardDeclined"]
    b = await budget(db, tenant)
    assert (b["funded"], b["balance"], b["funding"]) == ([1000, 500], 0, -1500)
    await define(campaign(tenant, 3, budget_minor=800))  # a cut takes back nothing already granted
    b = await budget(db, tenant)
    assert (b["funded"], b["balance"], b["funding"]) == ([1000, 500], 0, -1500)
    await assert_ledger_balances(db, tenant)


async def test_an_older_campaign_version_arriving_late_is_ignored(out: TopicWatcher, db: asyncpg.Pool,
                                                                  tenant: str, send: Send, define: Send) -> None:
    await define(campaign(tenant, 3, referrer=700, budget_minor=5000), campaign(tenant, 2, referrer=100,
                                                                                budget_minor=1000))
    fact = attributed(tenant, "ben", campaign="spring")
    await send(fact)

    (granted,) = await rewards_for(out, fact)
    assert (granted.event_type, granted.payload.amount_minor) == ("RewardGranted", 700)
    row = await db.fetchrow("SELECT version, terms FROM campaigns WHERE tenant_id = $1", tenant)
    assert (row["version"], row["terms"]["budget_minor"]) == (3, 5000)
    assert (await budget(db, tenant))["funded"] == [5000]


async def test_a_paused_campaign_declines_and_books_nothing_until_resumed(
        out: TopicWatcher, db: asyncpg.Pool, tenant: str, send: Send, define: Send) -> None:
    terms = {"referrer": 300, "referee": 200, "budget_minor": 10_000}
    await define(campaign(tenant, 1, **terms), campaign(tenant, 2, status="paused", **terms))
    paused = attributed(tenant, "ben", campaign="spring")
    await send(paused)

    verdicts = await rewards_for(out, paused, each=2)
    assert {(e.event_type, e.payload.reason) for e in verdicts} == {("RewardDeclined", "campaign_not_active")}
    rows = await db.fetch("SELECT status, decline_reason, tx_id FROM rewards WHERE tenant_id = $1", tenant)
    assert [tuple(r) for r in rows] == [("declined", "campaign_not_active", None)] * 2
    assert await db.fetchval("SELECT count(*) FROM ledger_transactions WHERE tenant_id = $1 "
                             "AND kind = 'reward_granted'", tenant) == 0
    assert (await budget(db, tenant))["balance"] == 10_000

    await define(campaign(tenant, 3, **terms))
    resumed = attributed(tenant, "cleo", campaign="spring")
    await send(resumed)
    verdicts = await rewards_for(out, resumed, each=2)
    assert summary(verdicts[2:]) == [("RewardGranted", "anna", "referrer", 300),
                                     ("RewardGranted", "cleo", "referee", 200)]
    assert (await budget(db, tenant))["balance"] == 10_000 - 500


async def test_an_attribution_for_an_undefined_campaign_is_dead_lettered_alone(out: TopicWatcher, dlq: TopicWatcher,
                                                                             tenant: str, send: Send) -> None:
    unknown, neighbour = attributed(tenant, "ben", campaign="nowhere"), attributed(tenant, "cleo")
    await send(unknown, neighbour)

    verdicts = await rewards_for(out, neighbour)
    await dlq.wait_for(lambda w: len(w.seen) >= 1, WAIT_S, "the dead letter")
    assert [(e.event_type, e.payload.conversion_id) for e in verdicts] == [
        ("RewardGranted", neighbour.payload.conversion_id)]
    (dead,) = dlq.seen
    assert dead.envelope is not None and dead.envelope.event_id == unknown.event_id
    assert dict(dead.record.headers)["kaskade-dlq-reason"] == b"unknown_campaign"


# --- known bugs: each test states the wanted behaviour and fails until the fix is in. They call
# the consumer (or handler) in-process: no other reward instance in the group can decide for them.

def record(e: Envelope[Any]) -> ConsumerRecord:
    value = encode_envelope(e)
    return ConsumerRecord(e.payload.topic, 0, 0, 0, 0, None, value, None, 0, len(value), [])


async def test_a_campaign_and_its_first_attribution_in_one_batch_are_both_applied(db: asyncpg.Pool, tenant: str,
                                                                                  runtime: ServiceRuntime) -> None:
    defined, fact = campaign(tenant, 1), attributed(tenant, "ben", campaign="spring")
    # A real batch, published together, came in this order: the attributions partition first.
    await runtime.consumers[0].process([record(fact), record(defined)])

    assert await db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", tenant) == 1


async def test_a_conversion_rewarded_before_the_upgrade_is_not_rewarded_again(db: asyncpg.Pool, tenant: str,
                                                                              runtime: ServiceRuntime) -> None:
    fact = attributed(tenant, "ben")
    previous = domain.Campaign("default", True, "EUR", 0, domain.Rule("referrer-fixed", 500, RewardKind.account_credit),
                               domain.Rule("referee", 0, RewardKind.account_credit))  # the previous release's rule
    [booked] = domain.candidates(tenant, fact.payload, previous)
    async with db.acquire() as conn:
        await repo.insert_rewards(conn, [(booked, "pending", None, None)])
    await runtime.consumers[0].process([record(fact)])  # attributed again, after the upgrade

    assert await db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", tenant) == 1


async def test_the_default_campaign_pays_in_the_configured_reward_kind(db: asyncpg.Pool, tenant: str) -> None:
    rewards = Rewards(Settings(default_reward_kind="points"))
    async with db.acquire() as conn:  # the handler itself, in a transaction that is rolled back
        tx = conn.transaction()
        await tx.start()
        try:
            (granted,) = await rewards.on_attributed(conn, [attributed(tenant, "ben")])
        finally:
            await tx.rollback()

    assert granted.payload.kind is RewardKind.points
