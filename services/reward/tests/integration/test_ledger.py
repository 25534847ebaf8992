"""reward against real Kafka and Postgres: ConversionAttributed published straight onto
kaskade.attributions.v1, rewards read from kaskade.rewards.v1 and from the double-entry ledger.

A reward event's partition key is tenant:recipient, so one referrer per test keeps the output in
order, and a later reward (the sentinel) proves an extra one would already have been seen.
"""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import AttributionPath, ConversionAttributed, ConversionKind
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce
from kaskade_platform.runtime import ServiceRuntime
from reward import domain
from reward.app import build
from reward.config import Settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def runtime(infra: Any) -> AsyncIterator[ServiceRuntime]:
    rt = build(Settings())
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture(scope="module")
async def admin(infra: Any) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(infra.database_urls["admin"], min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def tenant(runtime: ServiceRuntime) -> str:
    return f"rw-{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def out(infra: Any, tenant: str) -> AsyncIterator[TopicWatcher]:
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as w:
        yield w


def attributed(tenant: str, referee: str, *, referrer: str = "anna", campaign: str = "default",
               kind: ConversionKind = ConversionKind.purchase, conversion_id: uuid.UUID | None = None
               ) -> Envelope[ConversionAttributed]:
    return new_envelope(ConversionAttributed(
        conversion_id=conversion_id or uuid.uuid4(), campaign_id=campaign, kind=kind, amount_minor=4999,
        currency="EUR", referee_id=referee, referrer_id=referrer, root_seeder_id=referrer, generation=1,
        path=AttributionPath.referral_code), tenant_id=tenant)


async def rewards_for(out: TopicWatcher, *facts: Envelope[ConversionAttributed]) -> list[Envelope[Any]]:
    """Wait until every fact has its reward verdict; returns all verdicts seen, in order."""
    wanted = {f.payload.conversion_id for f in facts}
    await out.wait_for(lambda w: wanted <= {e.payload.conversion_id for e in w.events()}, 30,
                       f"reward verdicts for {len(wanted)} conversions")
    return out.events()


async def budget(admin: asyncpg.Pool, tenant: str, campaign: str = "default") -> asyncpg.Record:
    return await admin.fetchrow(
        """SELECT a.balance,
                  (SELECT sum(e.amount) FROM reward.ledger_entries e JOIN reward.ledger_transactions t USING (tx_id)
                   WHERE e.account_id = a.account_id AND t.kind = 'budget_funded') AS funded
           FROM reward.accounts a WHERE a.tenant_id = $1 AND a.kind = 'campaign_budget' AND a.owner_id = $2""",
        tenant, campaign)


async def test_a_referred_purchase_grants_the_referrer_the_default_reward(out: TopicWatcher, admin: asyncpg.Pool,
                                                                          tenant: str, infra: Any) -> None:
    fact = attributed(tenant, "ben")
    await produce(infra.kafka_bootstrap_servers, [fact])

    (granted,) = await rewards_for(out, fact)
    g = granted.payload
    assert granted.event_type == "RewardGranted" and granted.causation_id == fact.event_id
    assert (g.recipient_id, g.role, g.amount_minor, g.currency, g.kind) == ("anna", "referrer", 500, "EUR",
                                                                            "account_credit")
    key = domain.idempotency_key("default", fact.payload.conversion_id, "referrer-fixed", "anna")
    assert (g.idempotency_key, g.reward_id) == (key, uuid.uuid5(domain.REWARD_NAMESPACE, f"{tenant}\x00{key}"))
    row = await admin.fetchrow("SELECT status, amount_minor, tx_id FROM reward.rewards WHERE reward_id = $1",
                               g.reward_id)
    assert (row["status"], row["amount_minor"]) == ("pending", 500) and row["tx_id"] is not None


async def test_a_signup_earns_nothing(out: TopicWatcher, admin: asyncpg.Pool, tenant: str, infra: Any) -> None:
    signup = attributed(tenant, "ben", kind=ConversionKind.signup)
    sentinel = attributed(tenant, "cleo")
    await produce(infra.kafka_bootstrap_servers, [signup, sentinel])

    verdicts = await rewards_for(out, sentinel)
    assert [e.payload.conversion_id for e in verdicts] == [sentinel.payload.conversion_id]
    assert await admin.fetchval("SELECT count(*) FROM reward.rewards WHERE tenant_id = $1", tenant) == 1


async def test_the_same_attribution_twice_is_rewarded_once(out: TopicWatcher, admin: asyncpg.Pool, tenant: str,
                                                           infra: Any) -> None:
    fact = attributed(tenant, "ben")
    same = attributed(tenant, "ben", conversion_id=fact.payload.conversion_id)
    await produce(infra.kafka_bootstrap_servers, [fact, same])  # both in one batch
    await rewards_for(out, fact)
    again = attributed(tenant, "ben", conversion_id=fact.payload.conversion_id)
    sentinel = attributed(tenant, "cleo")
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.ATTRIBUTIONS.dead_letter,),
                            keep=for_tenant(tenant)) as dlq:
        await produce(infra.kafka_bootstrap_servers, [again, sentinel])  # and once more, later
        verdicts = await rewards_for(out, sentinel)
        await asyncio.sleep(1)  # a dead letter is published right after its batch commits

    assert dlq.seen == []  # a replay is a no-op, not a failure
    assert [e.payload.conversion_id for e in verdicts] == [fact.payload.conversion_id, sentinel.payload.conversion_id]
    assert await admin.fetchval("SELECT count(*) FROM reward.rewards WHERE tenant_id = $1 AND conversion_id = $2",
                                tenant, fact.payload.conversion_id) == 1


async def test_the_ledger_balances_and_the_budget_is_funded_minus_granted(out: TopicWatcher, admin: asyncpg.Pool,
                                                                          tenant: str, infra: Any,
                                                                          runtime: ServiceRuntime) -> None:
    funded = runtime.settings.default_budget_minor  # type: ignore[attr-defined]
    facts = [attributed(tenant, f"friend-{i}", referrer="anna" if i < 2 else "bert") for i in range(3)]
    await produce(infra.kafka_bootstrap_servers, facts)
    await rewards_for(out, *facts)

    unbalanced = await admin.fetch(
        """SELECT t.tx_id FROM reward.ledger_transactions t JOIN reward.ledger_entries e USING (tx_id)
           WHERE t.tenant_id = $1 GROUP BY t.tx_id HAVING sum(e.amount) <> 0""", tenant)
    assert unbalanced == []
    b = await budget(admin, tenant)
    assert (b["funded"], b["balance"]) == (funded, funded - 3 * 500)
    earned = dict(await admin.fetch("SELECT owner_id, balance FROM reward.accounts WHERE tenant_id = $1 "
                                    "AND kind = 'customer_rewards'", tenant))
    assert earned == {"anna": 1000, "bert": 500}


async def test_an_exhausted_budget_declines_rewards_and_never_goes_negative(out: TopicWatcher, admin: asyncpg.Pool,
                                                                           tenant: str, infra: Any) -> None:
    conn = await asyncpg.connect(infra.database_urls["reward"])
    try:  # the campaign's rule, known before its first attributed conversion
        await conn.execute("""INSERT INTO reward.campaign_rules (tenant_id, campaign_id, referrer_reward_minor,
                              reward_kind, budget_minor) VALUES ($1, 'tight', 500, 'account_credit', 1000)""", tenant)
    finally:
        await conn.close()
    facts = [attributed(tenant, f"friend-{i}", campaign="tight") for i in range(3)]
    await produce(infra.kafka_bootstrap_servers, facts)

    verdicts = await rewards_for(out, *facts)
    assert [(e.event_type, e.payload.conversion_id) for e in verdicts] == [
        ("RewardGranted", facts[0].payload.conversion_id), ("RewardGranted", facts[1].payload.conversion_id),
        ("RewardDeclined", facts[2].payload.conversion_id)]
    assert verdicts[2].payload.reason == "budget_exhausted"
    b = await budget(admin, tenant, "tight")  # funded from the rule, and spent to the last cent
    assert (b["funded"], b["balance"]) == (1000, 0)
    statuses = await admin.fetch("SELECT status, decline_reason, tx_id FROM reward.rewards WHERE tenant_id = $1 "
                                 "ORDER BY status", tenant)
    assert [(r["status"], r["decline_reason"], r["tx_id"] is None) for r in statuses] == [
        ("declined", "budget_exhausted", True), ("pending", None, False), ("pending", None, False)]


async def test_the_database_refuses_a_negative_budget_even_if_python_were_wrong(out: TopicWatcher, tenant: str,
                                                                               infra: Any) -> None:
    fact = attributed(tenant, "ben")
    await produce(infra.kafka_bootstrap_servers, [fact])
    await rewards_for(out, fact)

    conn = await asyncpg.connect(infra.database_urls["reward"])
    try:
        with pytest.raises(asyncpg.CheckViolationError, match="budget_never_negative"):
            await conn.execute("UPDATE reward.accounts SET balance = -1 WHERE tenant_id = $1 "
                               "AND kind = 'campaign_budget'", tenant)
        # ...while the funding account is the negative side of every budget, by design.
        assert await conn.fetchval("SELECT balance FROM reward.accounts WHERE tenant_id = $1 AND kind = 'funding'",
                                   tenant) < 0
        assert await conn.fetchval("SELECT balance FROM reward.accounts WHERE tenant_id = $1 "
                                   "AND kind = 'campaign_budget'", tenant) >= 0
    finally:
        await conn.close()
