"""The ledger's basics: double-sided and percentage rewards, idempotency, budgets funded from
campaign definitions and spent to the last cent, paused and undefined campaigns."""
from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiokafka import ConsumerRecord

from kaskade_contracts.envelope import Envelope, encode_envelope
from kaskade_contracts.events import ConversionKind, RewardKind, RewardRule
from reward import domain, ledger, repo, rules
from reward.config import Settings
from reward.handlers import Rewards

pytestmark = pytest.mark.integration
WAIT_S = 30


async def test_a_referred_purchase_grants_the_referrer_the_default_reward_pending_for_the_hold(kit: Any) -> None:
    fact = kit.attributed("ben")
    await kit.send(fact)

    (granted,) = await kit.rewards_for(fact)
    g = granted.payload
    assert granted.event_type == "RewardGranted" and granted.causation_id == fact.event_id
    assert (g.recipient_id, g.role, g.amount_minor, g.currency, g.kind) == ("anna", "referrer", 500, "EUR",
                                                                            "account_credit")
    assert (g.status, g.hold_until) == ("pending", fact.occurred_at + timedelta(days=14))
    key = domain.idempotency_key("default", fact.payload.conversion_id, g.rule_id, "anna")
    assert (g.idempotency_key, g.reward_id) == (key, uuid.uuid5(domain.REWARD_NAMESPACE, f"{kit.tenant}\x00{key}"))
    row = await kit.db.fetchrow("SELECT status, amount_minor, tx_id FROM rewards WHERE reward_id = $1", g.reward_id)
    assert (row["status"], row["amount_minor"]) == ("pending", 500) and row["tx_id"] is not None


async def test_the_same_attribution_twice_is_rewarded_once(kit: Any) -> None:
    fact = kit.attributed("ben")
    await kit.send(fact, kit.attributed("ben", conversion_id=fact.payload.conversion_id))  # both in one batch
    await kit.rewards_for(fact)
    sentinel = kit.attributed("cleo")
    await kit.send(kit.attributed("ben", conversion_id=fact.payload.conversion_id), sentinel)  # once more, later
    verdicts = await kit.rewards_for(sentinel)
    await asyncio.sleep(1)  # a dead letter is published right after its batch commits

    assert kit.dlq.seen == []  # a replay is a no-op, not a failure
    assert [e.payload.conversion_id for e in verdicts] == [fact.payload.conversion_id, sentinel.payload.conversion_id]
    assert await kit.db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1 AND conversion_id = $2",
                                 kit.tenant, fact.payload.conversion_id) == 1


async def test_the_ledger_balances_and_the_budget_is_funded_minus_granted(kit: Any) -> None:
    funded = kit.runtime.settings.default_budget_minor
    facts = [kit.attributed(f"friend-{i}", referrer="anna" if i < 2 else "bert") for i in range(3)]
    await kit.send(*facts)
    await kit.rewards_for(*facts)

    await kit.assert_ledger_balances()
    b = await kit.budget("default")
    assert (b["funded"], b["balance"], b["funding"]) == ([funded], funded - 3 * 500, -funded)
    assert await kit.earned() == {"anna": 1000, "bert": 500}


async def test_the_ledger_refuses_dangling_references_and_any_rewrite_of_its_history(kit: Any) -> None:
    fact = kit.attributed("dora")
    await kit.send(fact)
    (granted,) = await kit.rewards_for(fact)
    tx_id = await kit.db.fetchval("SELECT tx_id FROM rewards WHERE reward_id = $1", granted.payload.reward_id)
    account_id = await kit.db.fetchval("SELECT account_id FROM ledger_entries WHERE tx_id = $1 LIMIT 1", tx_id)
    async with kit.db.acquire() as conn:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="missing transaction or account"):
            await conn.execute("INSERT INTO ledger_entries (tx_id, account_id, amount) VALUES ($1, $2, 1)",
                               uuid.uuid4(), account_id)
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="missing transaction or account"):
            await conn.execute("INSERT INTO ledger_entries (tx_id, account_id, amount) VALUES ($1, -1, 1)", tx_id)
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="missing ledger transaction"):
            await conn.execute("UPDATE rewards SET tx_id = $2 WHERE reward_id = $1", granted.payload.reward_id,
                               uuid.uuid4())
        for statement in ("UPDATE ledger_entries SET amount = 0 WHERE tx_id = $1",
                          "DELETE FROM ledger_transactions WHERE tx_id = $1",
                          "DELETE FROM accounts WHERE account_id = (SELECT min(account_id) FROM ledger_entries "
                          "WHERE tx_id = $1)"):
            with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
                await conn.execute(statement, tx_id)
    await kit.assert_ledger_balances()


async def test_the_ledger_reference_checks_probe_the_rows_written_never_the_whole_ledger(kit: Any) -> None:
    """A connection plans its checks once, while the ledger is smaller than the batch: they once
    hashed every ledger transaction there was, at every grant batch, so each batch cost more than
    the last (up to 80,000 transactions read per batch in a benchmark run)."""
    conn = await asyncpg.connect(kit.runtime.settings.database_url, server_settings={"search_path": "reward"})
    try:
        campaign = f"c-{uuid.uuid4().hex[:8]}"
        accounts = await ledger.accounts(conn, {(kit.tenant, kind, campaign, "EUR")
                                                for kind in ("funding", "campaign_budget")})
        funding, budget = (accounts[(kit.tenant, kind, campaign, "EUR")] for kind in ("funding", "campaign_budget"))
        txs = [(uuid.uuid4(), kit.tenant, f"fund:{campaign}:{i}", "budget_funded") for i in range(2_000)]
        async with conn.transaction():
            await ledger.book(conn, txs, [e for tx, *_ in txs for e in ((tx, funding, -1), (tx, budget, 1))])
            scans = await conn.fetchval("SELECT seq_scan FROM pg_stat_xact_user_tables "
                                        "WHERE relid = 'reward.ledger_transactions'::regclass")
        assert scans == 0
        assert await conn.fetchval("SELECT balance FROM accounts WHERE account_id = $1", budget) == 2_000
    finally:
        await conn.close()


async def test_a_double_sided_campaign_rewards_referrer_and_referee_per_purchase_not_per_signup(
        kit: Any, summarize: Any) -> None:
    await kit.define(kit.campaign(1, referrer=300, referee=200, budget_minor=10_000))
    facts = [kit.attributed(referee, campaign="spring") for referee in ("ben", "cleo")]
    signup = kit.attributed("dora", campaign="spring", kind=ConversionKind.signup)
    await kit.send(signup, *facts)  # one partition: the signup is decided before the purchases

    verdicts = await kit.rewards_for(*facts, each=2)
    assert summarize(verdicts) == [("RewardGranted", "anna", "referrer", 300), ("RewardGranted", "anna", "referrer", 300),
                                   ("RewardGranted", "ben", "referee", 200), ("RewardGranted", "cleo", "referee", 200)]
    assert len({e.payload.reward_id for e in verdicts}) == len({e.payload.idempotency_key for e in verdicts}) == 4
    assert await kit.db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", kit.tenant) == 4
    assert await kit.earned() == {"anna": 600, "ben": 200, "cleo": 200}
    assert (await kit.budget())["balance"] == 10_000 - 1000
    await kit.assert_ledger_balances()


async def test_a_percentage_reward_is_a_floored_share_of_a_purchase_in_the_campaign_currency(
        kit: Any, summarize: Any) -> None:
    await kit.define(kit.campaign(1, referrer=RewardRule(amount_minor=100, percent_bps=1000),
                                  referee=RewardRule(percent_bps=500, kind=RewardKind.points)))
    eur, usd = kit.attributed("ben", campaign="spring"), kit.attributed("cleo", campaign="spring", currency="USD")
    await kit.send(eur, usd)

    await kit.rewards_for(usd)  # a USD purchase earns the fixed part only, and its referee nothing
    verdicts = await kit.rewards_for(eur, each=2)
    assert summarize(verdicts) == [("RewardGranted", "anna", "referrer", 100),
                                   ("RewardGranted", "anna", "referrer", 599), ("RewardGranted", "ben", "referee", 249)]
    assert {(e.payload.role, e.payload.kind, e.payload.currency) for e in verdicts} == {
        ("referrer", "account_credit", "EUR"), ("referee", "points", "PTS")}
    assert await kit.earned() == {"anna": 699, "ben": 249}
    # Points are an asset of their own, with a budget of their own.
    assert ((await kit.budget())["balance"], (await kit.budget(currency="PTS"))["balance"]) == (
        100_000_000 - 699, 100_000_000 - 249)


async def test_an_exhausted_budget_declines_until_a_new_version_raises_it(kit: Any) -> None:
    await kit.define(kit.campaign(1, budget_minor=1000))
    facts = [kit.attributed(f"friend-{i}", campaign="spring") for i in range(3)]
    await kit.send(*facts)

    verdicts = await kit.rewards_for(*facts)
    assert [(e.event_type, e.payload.conversion_id) for e in verdicts if e.event_type.startswith("Reward")] == [
        ("RewardGranted", facts[0].payload.conversion_id), ("RewardGranted", facts[1].payload.conversion_id),
        ("RewardDeclined", facts[2].payload.conversion_id)]
    assert [e.payload.reason for e in verdicts if e.event_type == "RewardDeclined"] == ["budget_exhausted"]
    b = await kit.budget()  # funded from the definition, and spent to the last cent
    assert (b["funded"], b["balance"], b["funding"]) == ([1000], 0, -1000)
    statuses = await kit.db.fetch("SELECT status, decline_reason, tx_id FROM rewards WHERE tenant_id = $1 "
                                  "ORDER BY status", kit.tenant)
    assert [(r["status"], r["decline_reason"], r["tx_id"] is None) for r in statuses] == [
        ("declined", "budget_exhausted", True), ("pending", None, False), ("pending", None, False)]
    with pytest.raises(asyncpg.CheckViolationError, match="budget_never_negative"):  # even if Python were wrong
        await kit.db.execute("UPDATE accounts SET balance = -1 WHERE tenant_id = $1 AND kind = 'campaign_budget'",
                             kit.tenant)

    await kit.define(kit.campaign(2, budget_minor=1500))  # booked as an adjustment of +500
    later = [kit.attributed(f"friend-{i}", campaign="spring") for i in range(3, 5)]
    await kit.send(*later)
    verdicts = await kit.rewards_for(*later)
    assert [e.event_type for e in verdicts
            if getattr(e.payload, "conversion_id", None) in {f.payload.conversion_id for f in later}] == [
        "RewardGranted", "RewardDeclined"]
    b = await kit.budget()
    assert (b["funded"], b["balance"], b["funding"]) == ([1000, 500], 0, -1500)
    await kit.define(kit.campaign(3, budget_minor=800))  # a cut takes back nothing already granted
    b = await kit.budget()
    assert (b["funded"], b["balance"], b["funding"]) == ([1000, 500], 0, -1500)
    await kit.assert_ledger_balances()


async def test_an_older_campaign_version_arriving_late_is_ignored(kit: Any) -> None:
    await kit.define(kit.campaign(3, referrer=700, budget_minor=5000), kit.campaign(2, referrer=100, budget_minor=1000))
    fact = kit.attributed("ben", campaign="spring")
    await kit.send(fact)

    (granted,) = await kit.rewards_for(fact)
    assert (granted.event_type, granted.payload.amount_minor) == ("RewardGranted", 700)
    row = await kit.db.fetchrow("SELECT version, terms FROM campaigns WHERE tenant_id = $1", kit.tenant)
    assert (row["version"], row["terms"]["budget_minor"]) == (3, 5000)
    assert (await kit.budget())["funded"] == [5000]


async def test_a_paused_campaign_declines_and_books_nothing_until_resumed(kit: Any, summarize: Any) -> None:
    terms = {"referrer": 300, "referee": 200, "budget_minor": 10_000}
    await kit.define(kit.campaign(1, **terms), kit.campaign(2, status="paused", **terms))
    paused = kit.attributed("ben", campaign="spring")
    await kit.send(paused)

    verdicts = await kit.rewards_for(paused, each=2)
    assert {(e.event_type, e.payload.reason) for e in verdicts} == {("RewardDeclined", "campaign_not_active")}
    rows = await kit.db.fetch("SELECT status, decline_reason, tx_id FROM rewards WHERE tenant_id = $1", kit.tenant)
    assert [tuple(r) for r in rows] == [("declined", "campaign_not_active", None)] * 2
    assert await kit.db.fetchval("SELECT count(*) FROM ledger_transactions WHERE tenant_id = $1 "
                                 "AND kind = 'reward_granted'", kit.tenant) == 0
    assert (await kit.budget())["balance"] == 10_000

    await kit.define(kit.campaign(3, **terms))
    resumed = kit.attributed("cleo", campaign="spring")
    await kit.send(resumed)
    verdicts = await kit.rewards_for(resumed, each=2)
    assert summarize(verdicts[2:]) == [("RewardGranted", "anna", "referrer", 300),
                                       ("RewardGranted", "cleo", "referee", 200)]
    assert (await kit.budget())["balance"] == 10_000 - 500


async def test_an_attribution_for_an_undefined_campaign_is_dead_lettered_alone(kit: Any) -> None:
    unknown, neighbour = kit.attributed("ben", campaign="nowhere"), kit.attributed("cleo")
    await kit.send(unknown, neighbour)

    verdicts = await kit.rewards_for(neighbour)
    await kit.dlq.wait_for(lambda w: len(w.seen) >= 1, WAIT_S, "the dead letter")
    assert [(e.event_type, e.payload.conversion_id) for e in verdicts] == [
        ("RewardGranted", neighbour.payload.conversion_id)]
    (dead,) = kit.dlq.seen
    assert dead.envelope is not None and dead.envelope.event_id == unknown.event_id
    assert dict(dead.record.headers)["kaskade-dlq-reason"] == b"unknown_campaign"


# --- regressions: they call the consumer (or handler) in-process, so no other reward instance in
# the group can decide for them.

def record(e: Envelope[Any]) -> ConsumerRecord:
    value = encode_envelope(e)
    return ConsumerRecord(e.payload.topic, 0, 0, 0, 0, None, value, None, 0, len(value), [])


async def test_a_campaign_and_its_first_attribution_in_one_batch_are_both_applied(kit: Any) -> None:
    defined, fact = kit.campaign(1), kit.attributed("ben", campaign="spring")
    # A real batch, published together, came in this order: the attributions partition first.
    await kit.runtime.consumers[0].process([record(fact), record(defined)])

    assert await kit.db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", kit.tenant) == 1


async def test_a_conversion_rewarded_before_the_upgrade_is_not_rewarded_again(kit: Any) -> None:
    fact = kit.attributed("ben")
    previous = domain.Campaign("default", True, "EUR", 0, domain.Rule("referrer-fixed", 500, RewardKind.account_credit),
                               domain.Rule("referee", 0, RewardKind.account_credit))  # the previous release's rule
    [booked] = rules.for_referral(kit.tenant, fact.payload, previous, fact.occurred_at)
    async with kit.db.acquire() as conn:
        await repo.insert_rewards(conn, [(booked, "pending", None, None)])
    await kit.runtime.consumers[0].process([record(fact)])  # attributed again, after the upgrade

    assert await kit.db.fetchval("SELECT count(*) FROM rewards WHERE tenant_id = $1", kit.tenant) == 1


async def test_the_default_campaign_pays_in_the_configured_reward_kind(kit: Any) -> None:
    rewards = Rewards(Settings(default_reward_kind="points"))
    async with kit.db.acquire() as conn:  # the handler itself, in a transaction that is rolled back
        tx = conn.transaction()
        await tx.start()
        try:
            (granted,) = await rewards.on_attributed(conn, [kit.attributed("ben")])
        finally:
            await tx.rollback()

    assert (granted.payload.kind, granted.payload.currency) == (RewardKind.points, "PTS")



async def test_a_booking_leaves_deferred_accounts_unlocked_until_their_balances_move_last(kit: Any) -> None:
    """Granting defers the recipients' balances: their rows, shared by every campaign's consumers,
    stay unlocked while the rest of the batch is written, and are right once the balances move."""
    async with kit.db.acquire() as conn, conn.transaction():
        await ledger.fund_budgets(conn, {(kit.tenant, "spring", "EUR"): 1000})
        budget = (await ledger.lock_budgets(conn, [(kit.tenant, "spring", "EUR")]))[(kit.tenant, "spring", "EUR")]
        anna = (await ledger.accounts(conn, [(kit.tenant, "customer_pending", "anna", "EUR")]))[
            (kit.tenant, "customer_pending", "anna", "EUR")]
    grants = [(uuid.uuid4(), 300), (uuid.uuid4(), 200)]

    async def lock_anna() -> None:
        async with kit.db.acquire() as other:
            await other.execute("SELECT 1 FROM accounts WHERE account_id = $1 FOR UPDATE NOWAIT", anna)

    async with kit.db.acquire() as conn, conn.transaction():
        owed = await ledger.book(conn, [(tx, kit.tenant, f"test:{tx}", "reward_granted") for tx, _ in grants],
                                 [e for tx, amount in grants for e in ((tx, budget.account_id, -amount),
                                                                       (tx, anna, amount))], defer={anna})
        assert owed == {anna: 500}
        await lock_anna()  # not held: another consumer could book to anna meanwhile
        await ledger.move_balances(conn, owed)
        with pytest.raises(asyncpg.LockNotAvailableError):
            await lock_anna()

    assert await kit.earned() == {"anna": 500}
    assert (await kit.budget())["balance"] == 500
    await kit.assert_ledger_balances()
