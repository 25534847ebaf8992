"""Refunds and cancellations of attributed conversions, against real Kafka and Postgres."""
from __future__ import annotations

from typing import Any

import asyncpg
import pytest

pytestmark = pytest.mark.integration
Tenant = Any  # the `t` fixture (conftest.Tenant)
HELD_REFUNDS_SQL = "SELECT count(*) FROM attribution.held_refunds WHERE tenant_id = $1 AND conversion_id = $2"


def reversals(t: Tenant, conv: Any) -> list[Any]:
    return [e.payload for e in t.verdicts(conv.payload.conversion_id, "AttributionReversed")]


async def settle(t: Tenant, customer: str) -> None:
    """A later conversion of the same customer: same input partition as their refunds, and its verdict
    lands on the same output partition as any reversal, so once it is seen, a reversal would be too."""
    sentinel = t.buys(customer)
    await t.send(sentinel)
    await t.verdict(sentinel)


async def test_partial_then_full_refund_reverse_the_attribution(t: Tenant) -> None:
    ben = await t.referred("ben", t.share("anna"))
    part = t.refund(ben, 1000)
    rest = t.refund(ben, 3999, total=4999)
    await t.send(part, rest)
    await t.out.wait_for(lambda w: len(reversals(t, ben)) == 2, 30, "two reversals")

    first, last = reversals(t, ben)
    assert (first.refund_id, first.amount_minor, first.refunded_total_minor, first.full) == (
        part.payload.refund_id, 1000, 1000, False)
    assert (last.refund_id, last.amount_minor, last.refunded_total_minor, last.full) == (
        rest.payload.refund_id, 3999, 4999, True)
    assert (first.referee_id, first.referrer_id, first.conversion_amount_minor, first.currency) == (
        "ben", "anna", 4999, "EUR")


async def test_a_refund_replayed_under_a_new_event_id_is_reversed_once(t: Tenant) -> None:
    ben = await t.referred("ben", t.share("anna"))
    refund = t.refund(ben, 4999)
    replay = refund.model_copy(update={"event_id": t.refund(ben, 1).event_id})
    await t.send(refund, replay)
    await settle(t, "ben")

    assert [r.refund_id for r in reversals(t, ben)] == [refund.payload.refund_id]


async def test_refunds_of_unattributed_or_rejected_conversions_reverse_nothing(t: Tenant) -> None:
    walk_in = t.buys("dora")
    anna = t.share("anna")
    own = t.buys("anna", anna)
    await t.send(anna)
    await t.send(walk_in)
    assert (await t.verdict(walk_in)).event_type == "ConversionUnattributed"
    await t.send(own)
    assert (await t.verdict(own)).event_type == "AttributionRejected"

    await t.send(t.refund(walk_in, 4999), t.refund(own, 4999))
    await settle(t, "dora")
    await settle(t, "anna")

    assert reversals(t, walk_in) == [] and reversals(t, own) == []


async def test_a_refund_before_the_verdict_waits_for_it(t: Tenant, admin: asyncpg.Pool, wait: Any) -> None:
    anna = t.share("anna")
    click = t.click(anna)
    ben = t.buys("ben", click=click)
    refund = t.refund(ben, 2000)
    await t.send(ben, refund)  # the click has not been seen: ben is held, and so is the refund
    assert await wait(lambda: admin.fetchval(HELD_REFUNDS_SQL, t.id, ben.payload.conversion_id), bool) == 1
    assert t.verdicts(ben.payload.conversion_id) == []

    await t.send(anna, click)
    await t.out.wait_for(lambda w: reversals(t, ben), 30, "the reversal")

    assert (await t.verdict(ben)).event_type == "ConversionAttributed"
    assert [(r.refund_id, r.amount_minor, r.full) for r in reversals(t, ben)] == [(refund.payload.refund_id, 2000,
                                                                                   False)]
    assert await admin.fetchval(HELD_REFUNDS_SQL, t.id, ben.payload.conversion_id) == 0
