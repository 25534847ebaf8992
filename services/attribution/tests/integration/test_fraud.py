"""Each fraud pattern fed through real Kafka and Postgres: the referral is refused with its reason,
kept for review, and an honest neighbour sent alongside still passes."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from kaskade_contracts.events import FraudRules

pytestmark = pytest.mark.integration
Tenant = Any  # the `t` fixture (conftest.Tenant)
REVIEW_SQL = """SELECT referee_id, referrer_id, reason, detail FROM attribution.rejections
                WHERE tenant_id = $1 AND conversion_id = $2"""
COUNT_SQL = "SELECT count(*) FROM attribution.{} WHERE tenant_id = $1"


async def stored(t: Tenant, admin: asyncpg.Pool, wait: Any, table: str, n: int) -> None:
    await wait(lambda: admin.fetchval(COUNT_SQL.format(table), t.id), lambda have: have >= n)


async def judged(t: Tenant, admin: asyncpg.Pool, fraud: Any, honest: Any) -> tuple[Any, Any]:
    """Send a fraudulent and an honest conversion together; return (the rejection, the honest verdict)
    after checking the rejection is in the review table."""
    await t.send(fraud, honest)
    bad, good = await t.verdict(fraud), await t.verdict(honest)
    assert bad.event_type == "AttributionRejected"
    assert good.event_type == "ConversionAttributed", good.payload
    review = await admin.fetchrow(REVIEW_SQL, t.id, fraud.payload.conversion_id)
    assert tuple(review) == (bad.payload.referee_id, bad.payload.referrer_id, bad.payload.reason, bad.payload.detail)
    assert len(t.verdicts(fraud.payload.conversion_id)) == 1
    return bad.payload, good.payload


async def test_the_sharers_email_under_another_customer_id_is_self_referral(t: Tenant, admin: asyncpg.Pool,
                                                                            wait: Any) -> None:
    anna = t.share("anna", email_hash="aa11")
    await t.send(anna)
    await stored(t, admin, wait, "referral_links", 1)

    bad, good = await judged(t, admin, t.buys("anna-2nd-account", anna, email_hash="aa11"),
                             t.buys("ben", anna, email_hash="be11"))

    assert (bad.reason, bad.detail, bad.referrer_id) == ("self_referral", "same_email_hash", "anna")
    assert good.referrer_id == "anna"


@pytest.mark.parametrize("clicked", [timedelta(minutes=2), timedelta(hours=2)], ids=["recently", "before the flood window"])
@pytest.mark.parametrize("same", ["visitor", "ip"])
async def test_buying_from_the_referrers_own_device_is_self_referral(t: Tenant, admin: asyncpg.Pool, wait: Any,
                                                                     same: str, clicked: timedelta) -> None:
    """Clicked before the flood window, the device's clicks count for nothing there: only the
    referrer's devices tell."""
    # anna became a customer through xavier's link, from her own browser: that device is hers.
    xavier, anna = t.share("xavier"), t.share("anna")
    await t.send(xavier, anna)
    annas_click = t.click(xavier, visitor="v-anna", ip="a0a0", age=clicked)
    await t.send(annas_click)
    await stored(t, admin, wait, "clicks", 1)
    first = t.buys("anna", click=annas_click)
    await t.send(first)
    assert (await t.verdict(first)).event_type == "ConversionAttributed"

    sock = t.click(anna, visitor="v-anna" if same == "visitor" else "v-sock", ip="a0a0" if same == "ip" else "5050",
                   age=clicked)
    bens = t.click(anna, visitor="v-ben", ip="be00")
    await t.send(sock, bens)
    await stored(t, admin, wait, "clicks", 3)
    bad, good = await judged(t, admin, t.buys("sock-puppet", click=sock), t.buys("ben", click=bens))

    assert (bad.reason, bad.detail) == ("self_referral", f"same_{same}{'_id' if same == 'visitor' else '_hash'}"
                                                         "_as_referrer")
    assert (good.referrer_id, good.path) == ("anna", "click")


@pytest.mark.parametrize("by", ["visitor", "ip"])
async def test_too_many_clicks_from_one_visitor_or_ip_is_flooding(t: Tenant, admin: asyncpg.Pool, wait: Any,
                                                                  by: str) -> None:
    anna = t.share("anna")
    await t.send(t.campaign(fraud=FraudRules(max_clicks_per_visitor=3, max_clicks_per_ip=4)), anna)
    flood = [t.click(anna, visitor="v-bot" if by == "visitor" else None, ip="b0b0" if by == "ip" else None,
                     age=timedelta(minutes=10 - i)) for i in range(5)]
    bens = t.click(anna, visitor="v-ben", ip="be00")
    await t.send(*flood, bens)
    await stored(t, admin, wait, "clicks", 6)
    await stored(t, admin, wait, "campaigns", 1)

    bad, good = await judged(t, admin, t.buys("mallory", click=flood[-1]), t.buys("ben", click=bens))

    assert (bad.reason, bad.detail) == ("click_flooding", "clicks_per_visitor=4>3" if by == "visitor"
                                        else "clicks_per_ip=5>4")
    assert good.referrer_id == "anna"


async def test_a_conversion_right_after_its_click_is_click_injection(t: Tenant, admin: asyncpg.Pool,
                                                                     wait: Any) -> None:
    anna = t.share("anna")
    await t.send(anna)
    injected, honest = t.click(anna, age=timedelta(seconds=1)), t.click(anna)
    await t.send(injected, honest)
    await stored(t, admin, wait, "clicks", 2)

    bad, good = await judged(t, admin, t.buys("mallory", click=injected), t.buys("ben", click=honest))

    assert bad.reason == "click_injection" and bad.detail.startswith("click_to_conversion=")
    assert good.referrer_id == "anna"


async def test_an_order_attributed_once_is_refused_the_second_time(t: Tenant, admin: asyncpg.Pool,
                                                                   wait: Any) -> None:
    anna = t.share("anna")
    await t.send(anna)
    await stored(t, admin, wait, "referral_links", 1)
    first = t.buys("ben", anna, order_id="order-1")
    await t.send(first)
    assert (await t.verdict(first)).event_type == "ConversionAttributed"

    bad, good = await judged(t, admin, t.buys("cleo", anna, order_id="order-1"),
                             t.buys("dora", anna, order_id="order-2"))

    assert (bad.reason, bad.detail) == ("duplicate_conversion", f"order_id=order-1 of {first.payload.conversion_id}")
    again = t.buys("ben", anna, order_id="order-1")  # ben is bound now: the bound path is checked too
    await t.send(again)
    assert (await t.verdict(again)).payload.reason == "duplicate_conversion"


async def test_a_ring_is_refused_and_kept_for_review(t: Tenant, admin: asyncpg.Pool, wait: Any) -> None:
    await t.referred("ben", t.share("anna"))
    bens = t.share("ben")
    await t.send(bens)
    await stored(t, admin, wait, "referral_links", 2)

    bad, good = await judged(t, admin, t.buys("anna", bens), t.buys("cleo", bens))

    assert (bad.reason, bad.referee_id, bad.referrer_id) == ("referral_ring", "anna", "ben")
    assert (good.referrer_id, good.generation, good.upline) == ("ben", 2, ["anna"])
