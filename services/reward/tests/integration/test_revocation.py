"""Revocation: AttributionReversed takes back the rewards of a refunded purchase in proportion to
what was refunded; confirmed rewards are reversed with compensating entries; the money goes back
to the campaign budget; a replayed reversal changes nothing."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kaskade_contracts.events import RefundKind
from reward.handlers import Rewards

pytestmark = pytest.mark.integration


def revoked(events: list[Any]) -> list[tuple[str, int, int, str, bool]]:
    return sorted((e.payload.recipient_id, e.payload.amount_minor, e.payload.remaining_minor, e.payload.reason,
                   e.payload.compensated) for e in events if e.event_type == "RewardRevoked")


async def ledger_size(kit: Any) -> int:
    return await kit.db.fetchval("SELECT count(*) FROM ledger_entries e JOIN ledger_transactions t USING (tx_id) "
                                 "WHERE t.tenant_id = $1", kit.tenant)


async def test_a_partial_refund_revokes_pending_rewards_in_proportion_and_a_full_one_the_rest(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=500, referee=300, budget_minor=10_000))
    fact = kit.attributed("ben", campaign="spring", amount=1000)
    await kit.send(fact)
    await kit.rewards_for(fact, each=2)

    await kit.send(kit.reversed(fact, 250))  # a quarter refunded
    assert revoked(await kit.verdicts(2, "RewardRevoked")) == [("anna", 125, 375, "refund", False),
                                                               ("ben", 75, 225, "refund", False)]
    assert (await kit.budget())["balance"] == 10_000 - 800 + 200
    assert await kit.earned() == {"anna": 375, "ben": 225}

    last = kit.reversed(fact, 1000, amount=750)  # the rest: fully refunded
    await kit.send(last)
    assert revoked((await kit.verdicts(4, "RewardRevoked"))[2:]) == [("anna", 375, 0, "refund", False),
                                                                     ("ben", 225, 0, "refund", False)]
    assert (await kit.budget())["balance"] == 10_000
    assert await kit.earned() == {"anna": 0, "ben": 0}
    rows = await kit.db.fetch("SELECT status, revoked_minor, amount_minor FROM rewards WHERE tenant_id = $1",
                              kit.tenant)
    assert {(r["status"], r["revoked_minor"] == r["amount_minor"]) for r in rows} == {("revoked", True)}
    await kit.assert_ledger_balances()

    entries = await ledger_size(kit)
    replay = last.model_copy(update={"event_id": kit.reversed(fact, 1000).event_id})  # same refund, new event id
    await kit.send(replay, kit.reversed(fact, 1000))  # and another full refund of the same purchase
    await kit.applied(replay)
    assert await ledger_size(kit) == entries
    assert len(kit.out.events("RewardRevoked")) == 4


async def test_a_confirmed_reward_is_reversed_with_compensating_entries(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=500, budget_minor=10_000, holding_days=0))
    fact = kit.attributed("ben", campaign="spring")
    await kit.send(fact)
    (granted,) = await kit.rewards_for(fact)
    assert granted.payload.status == "confirmed"

    await kit.send(kit.reversed(fact, fact.payload.amount_minor, kind=RefundKind.cancellation))

    (gone,) = await kit.verdicts(1, "RewardRevoked")
    assert (gone.payload.reward_id, gone.payload.amount_minor, gone.payload.remaining_minor, gone.payload.reason,
            gone.payload.compensated) == (granted.payload.reward_id, 500, 0, "cancellation", True)
    assert await kit.earned("confirmed") == {"anna": 0}
    assert (await kit.budget())["balance"] == 10_000
    # The grant stays in the ledger; a second transaction compensates it.
    kinds = await kit.db.fetch("""SELECT t.kind, e.amount FROM ledger_transactions t JOIN ledger_entries e USING (tx_id)
                                  JOIN accounts a USING (account_id)
                                  WHERE t.tenant_id = $1 AND a.kind = 'customer_confirmed' ORDER BY t.kind""",
                               kit.tenant)
    assert [tuple(r) for r in kinds] == [("reward_granted", 500), ("reward_revoked", -500)]
    await kit.assert_ledger_balances()


async def test_what_a_partial_refund_leaves_is_confirmed_when_the_hold_ends(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=500, budget_minor=10_000, holding_days=14))
    fact = kit.attributed("ben", campaign="spring", amount=1000)
    await kit.send(fact, kit.reversed(fact, 400))
    await kit.verdicts(1, "RewardRevoked")

    kit.clock.at = fact.occurred_at + timedelta(days=14)
    (confirmed,) = await kit.confirm()

    assert (confirmed.event_type, confirmed.payload.amount_minor) == ("RewardConfirmed", 300)
    assert (await kit.earned("pending"), await kit.earned("confirmed")) == ({"anna": 0}, {"anna": 300})
    await kit.send(kit.reversed(fact, 1000, amount=600))  # then refunded in full, after confirmation
    (_, last) = await kit.verdicts(2, "RewardRevoked")
    assert (last.payload.amount_minor, last.payload.remaining_minor, last.payload.compensated) == (300, 0, True)
    assert (await kit.earned("confirmed"), (await kit.budget())["balance"]) == ({"anna": 0}, 10_000)
    await kit.assert_ledger_balances()


async def test_a_reward_granted_after_its_purchase_was_refunded_is_revoked_at_once(kit: Any) -> None:
    """E.g. two consumers racing: the reversal is applied before the attribution it reverses."""
    await kit.define(kit.campaign(1, referrer=500, budget_minor=10_000))
    fact = kit.attributed("ben", campaign="spring", amount=1000)
    rewards = Rewards(kit.runtime.settings)
    async with kit.db.acquire() as conn, conn.transaction():
        assert await rewards.on_reversed(conn, [kit.reversed(fact, 600)]) == []
    async with kit.db.acquire() as conn, conn.transaction():
        granted, revoked_now = await rewards.on_attributed(conn, [fact])

    assert (granted.event_type, revoked_now.event_type) == ("RewardGranted", "RewardRevoked")
    assert (revoked_now.payload.amount_minor, revoked_now.payload.remaining_minor) == (300, 200)
    assert (await kit.earned(), (await kit.budget())["balance"]) == ({"anna": 200}, 10_000 - 200)
    await kit.assert_ledger_balances()
