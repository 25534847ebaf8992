"""The holding period: rewards stay pending until the refund window after the purchase ends, then
the confirmation job makes them final. Time is moved with the Kit's clock, never slept through."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from kaskade_contracts.events import RewardKind, RewardRule

pytestmark = pytest.mark.integration


async def test_without_a_holding_period_a_reward_is_confirmed_at_once(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=300, referee=200, holding_days=0))
    fact = kit.attributed("ben", campaign="spring")
    await kit.send(fact)

    verdicts = await kit.rewards_for(fact, each=2)
    assert {(e.event_type, e.payload.status, e.payload.hold_until) for e in verdicts} == {
        ("RewardGranted", "confirmed", None)}
    assert (await kit.earned("confirmed"), await kit.earned("pending")) == ({"anna": 300, "ben": 200}, {})
    kit.clock.advance(days=365)
    assert await kit.confirm() == []  # nothing left to confirm
    await kit.assert_ledger_balances()


async def test_a_reward_is_confirmed_when_its_hold_ends_and_only_then(kit: Any) -> None:
    await kit.define(kit.campaign(1, referrer=300, referee=RewardRule(amount_minor=200, kind=RewardKind.points),
                                  holding_days=14))
    fact = kit.attributed("ben", campaign="spring")
    await kit.send(fact)
    granted = await kit.rewards_for(fact, each=2)
    assert {e.payload.hold_until for e in granted} == {fact.occurred_at + timedelta(days=14)}

    kit.clock.at = fact.occurred_at + timedelta(days=14) - timedelta(seconds=1)
    assert await kit.confirm() == []
    kit.clock.advance(seconds=1)
    confirmed = await kit.confirm()

    assert sorted((e.event_type, e.payload.recipient_id, e.payload.amount_minor, e.payload.currency)
                  for e in confirmed) == [("RewardConfirmed", "anna", 300, "EUR"), ("RewardConfirmed", "ben", 200, "PTS")]
    assert {e.payload.reward_id for e in confirmed} == {e.payload.reward_id for e in granted}
    await kit.verdicts(4)  # published too
    rows = await kit.db.fetch("SELECT status, confirmed_at FROM rewards WHERE tenant_id = $1", kit.tenant)
    assert {(r["status"], r["confirmed_at"]) for r in rows} == {("confirmed", kit.clock.now())}
    assert (await kit.earned("pending"), await kit.earned("confirmed")) == ({"anna": 0, "ben": 0},
                                                                            {"anna": 300, "ben": 200})
    assert await kit.db.fetchval("SELECT count(*) FROM ledger_transactions WHERE tenant_id = $1 "
                                 "AND kind = 'reward_confirmed'", kit.tenant) == 2
    await kit.assert_ledger_balances()

    kit.clock.advance(days=30)
    assert await kit.confirm() == []  # confirmed once


async def test_the_service_confirms_on_its_own_when_the_hold_has_ended(kit: Any, ago: Any) -> None:
    """The periodic job the composition root schedules, with the clock it injects."""
    await kit.define(kit.campaign(1, holding_days=14))
    fact = kit.attributed("ben", campaign="spring", at=ago(15))  # bought 15 days ago: the hold has ended
    await kit.send(fact)

    granted, confirmed = await kit.verdicts(2)
    assert (granted.event_type, granted.payload.status) == ("RewardGranted", "pending")
    assert (confirmed.event_type, confirmed.payload.reward_id) == ("RewardConfirmed", granted.payload.reward_id)
    assert await kit.earned("confirmed") == {"anna": 500}
