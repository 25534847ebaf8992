"""The attribution model, the upline and re-parenting, against real Kafka and Postgres."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from kaskade_contracts.events import AttributionModel

pytestmark = pytest.mark.integration
Tenant = Any  # the `t` fixture (conftest.Tenant)
BINDING_SQL = """SELECT referrer_id, root_seeder_id, generation, parent_conversion_id, upline
                 FROM attribution.bindings WHERE tenant_id = $1 AND referee_id = $2"""


async def referred_by_click(t: Tenant, customer: str, visitor: str, *shares: Any, model: AttributionModel,
                            wait: Any, admin: asyncpg.Pool) -> Any:
    """`customer` clicks each share in turn (oldest first) from one browser, then buys through the last click."""
    await t.send(t.campaign(attribution_model=model), *shares)
    clicks = [t.click(s, visitor=visitor, age=timedelta(hours=len(shares) - i)) for i, s in enumerate(shares)]
    await t.send(*clicks)
    await wait(lambda: admin.fetchval("SELECT (SELECT count(*) FROM attribution.clicks WHERE tenant_id = $1) + "
                                      "(SELECT count(*) FROM attribution.campaigns WHERE tenant_id = $1)", t.id),
               lambda n: n == len(shares) + 1)
    buy = t.buys(customer, click=clicks[-1])
    await t.send(buy)
    return await t.verdict(buy)


async def test_last_click_credits_the_click_the_customer_bought_through(t: Tenant, wait: Any,
                                                                        admin: asyncpg.Pool) -> None:
    v = await referred_by_click(t, "ben", "v-ben", t.share("anna"), t.share("xavier"),
                                model=AttributionModel.last_click, wait=wait, admin=admin)
    assert (v.event_type, v.payload.referrer_id, v.payload.path) == ("ConversionAttributed", "xavier", "click")


async def test_first_click_credits_the_earliest_click_of_the_same_visitor(t: Tenant, wait: Any,
                                                                          admin: asyncpg.Pool) -> None:
    v = await referred_by_click(t, "ben", "v-ben", t.share("anna"), t.share("xavier"),
                                model=AttributionModel.first_click, wait=wait, admin=admin)
    assert (v.event_type, v.payload.referrer_id, v.payload.path) == ("ConversionAttributed", "anna", "click")
    assert (await admin.fetchrow(BINDING_SQL, t.id, "ben"))["referrer_id"] == "anna"


async def test_attributed_conversions_carry_the_referrers_upline(t: Tenant) -> None:
    await t.referred("ben", t.share("anna"))
    await t.referred("cleo", t.share("ben"))
    dora = await t.referred("dora", t.share("cleo"))

    v = t.verdicts(dora.payload.conversion_id)[0]
    assert (v.payload.referrer_id, v.payload.generation, v.payload.upline) == ("cleo", 3, ["ben", "anna"])


async def test_a_seeder_referred_later_takes_their_subtree_along(t: Tenant, admin: asyncpg.Pool) -> None:
    # ben's referees convert before ben's own referral by anna has been seen (another partition).
    cleo = await t.referred("cleo", t.share("ben"))
    dora = await t.referred("dora", t.share("cleo"))
    ben = await t.referred("ben", t.share("anna"))

    assert tuple(await admin.fetchrow(BINDING_SQL, t.id, "cleo")) == (
        "ben", "anna", 2, ben.payload.conversion_id, ["anna", "ben"])
    assert tuple(await admin.fetchrow(BINDING_SQL, t.id, "dora")) == (
        "cleo", "anna", 3, cleo.payload.conversion_id, ["anna", "ben", "cleo"])
    later = t.buys("dora")
    await t.send(later)
    v = await t.verdict(later)
    assert (v.payload.path, v.payload.generation, v.payload.root_seeder_id, v.payload.upline) == (
        "bound_customer", 3, "anna", ["ben", "anna"])
    assert v.payload.parent_conversion_id == cleo.payload.conversion_id
    assert dora.payload.conversion_id != later.payload.conversion_id


async def test_the_moved_subtree_is_published_with_its_new_places(t: Tenant) -> None:
    # What was published about cleo and dora named ben the root; after ben's own referral, it is anna.
    cleo = await t.referred("cleo", t.share("ben"))
    dora = await t.referred("dora", t.share("cleo"))
    assert (t.verdicts(dora.payload.conversion_id)[0].payload.generation,
            t.verdicts(dora.payload.conversion_id)[0].payload.root_seeder_id) == (2, "ben")
    ben = await t.referred("ben", t.share("anna"))

    await t.out.wait_for(lambda w: len(t.out.events("ReferralReparented")) >= 3, 30, "three re-placed referees")
    places = {e.payload.referee_id: (e.payload.referrer_id, e.payload.root_seeder_id, e.payload.generation,
                                     e.payload.upline, e.payload.conversion_id, e.payload.parent_conversion_id)
              for e in t.out.events("ReferralReparented")}
    assert places == {
        "ben": ("anna", "anna", 1, [], ben.payload.conversion_id, None),
        "cleo": ("ben", "anna", 2, ["anna"], cleo.payload.conversion_id, ben.payload.conversion_id),
        "dora": ("cleo", "anna", 3, ["ben", "anna"], dora.payload.conversion_id, cleo.payload.conversion_id),
    }
    # Each comes after the verdict it corrects, on the same partition.
    order = [e.event_type for e in t.out.events() if e.payload.referee_id == "ben"]
    assert order == ["ConversionAttributed", "ReferralReparented"]
    # Each is dated by ben's referral, which caused it, not by when attribution saw it.
    assert {e.occurred_at for e in t.out.events("ReferralReparented")} == {ben.occurred_at}
