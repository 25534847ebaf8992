"""Events arrive out of order across partitions; given the same inputs in any interleaving (each
partition keeping its own order) and any batching, attribution ends in the same place.

The handlers run against real Postgres, one fresh tenant per example; each batch is one
transaction, its events applied topic by topic as the BatchConsumer does.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from itertools import groupby
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attribution.handlers import Attribution
from attribution.repo_cascade import PLAIN_FROM
from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (Channel, ConversionKind, ConversionRecorded, LinkClicked, RefundRecorded,
                                      ShareRecorded)

pytestmark = pytest.mark.integration
TOPIC_ORDER = [topics.SHARES.name, topics.CLICKS.name, topics.CONVERSIONS.name]

EXPECTED_OUTCOMES = {
    "ben1": ("attributed", "anna", None), "ben2": ("attributed", "anna", None),  # customer lock: not xavier
    "cleo": ("attributed", "ben", None), "dora": ("rejected", "dora", "self_referral"),
    "erin": ("unattributed", None, "no_referral_link"), "fred": ("attributed", "xavier", None),
    "gina1": ("attributed", "anna", None), "gina2": ("rejected", "anna", "duplicate_conversion"),
}
EXPECTED_CASCADE = {  # referee: referrer, root, generation, upline, parent conversion
    "ben": ("anna", "anna", 1, ["anna"], None), "cleo": ("ben", "anna", 2, ["anna", "ben"], "ben1"),
    "fred": ("xavier", "xavier", 1, ["xavier"], None), "gina": ("anna", "anna", 1, ["anna"], None),
}


class Scenario:
    """A small cascade with a customer lock, a self-referral, a walk-in, a typed code, a duplicate
    order and two refunds, as per-partition event sequences."""

    def __init__(self) -> None:
        self.tenant = f"ooo-{uuid.uuid4().hex[:10]}"
        self.names: dict[uuid.UUID, str] = {}
        t0 = datetime.now(timezone.utc) - timedelta(hours=1)
        at = lambda minutes: t0 + timedelta(minutes=minutes)  # noqa: E731
        share = {p: self._share(p, at(0)) for p in ("anna", "ben", "xavier", "dora")}
        c_ben_a = self._click(share["anna"], "v-ben", at(10))
        c_ben_x = self._click(share["xavier"], "v-ben", at(12))
        c_cleo_b = self._click(share["ben"], "v-cleo", at(15))
        code = {p: s.payload.referral_code for p, s in share.items()}
        ben1 = self._buy("ben1", "ben", at(20), click=c_ben_a)
        dora = self._buy("dora", "dora", at(22), code=code["dora"])
        self.partitions: list[list[Envelope[Any]]] = [
            *[[s] for s in share.values()], [c_ben_a], [c_ben_x], [c_cleo_b],
            [ben1, self._buy("ben2", "ben", at(25), click=c_ben_x), self._refund("r-ben1", ben1, at(40))],
            [self._buy("cleo", "cleo", at(21), click=c_cleo_b)],
            [dora, self._refund("r-dora", dora, at(41))],
            [self._buy("erin", "erin", at(23))],
            [self._buy("fred", "fred", at(24), code=code["xavier"])],
            [self._buy("gina1", "gina", at(26), code=code["anna"], order="o-1"),
             self._buy("gina2", "gina", at(27), code=code["anna"], order="o-1")],
        ]

    def _share(self, sharer: str, at: datetime) -> Envelope[ShareRecorded]:
        code = f"c{uuid.uuid4().hex[:11]}"
        return new_envelope(ShareRecorded(share_id=uuid.uuid4(), sharer_id=sharer, channel=Channel.email,
                                          referral_code=code, referral_url=f"https://go.test/r/{code}"),
                            tenant_id=self.tenant, occurred_at=at)

    def _click(self, share: Envelope[ShareRecorded], visitor: str, at: datetime) -> Envelope[LinkClicked]:
        return new_envelope(LinkClicked(click_id=uuid.uuid4(), referral_code=share.payload.referral_code,
                                        campaign_id="default", sharer_id=share.payload.sharer_id,
                                        visitor_id=visitor, ip_hash=f"ip-{visitor}"), tenant_id=self.tenant,
                            occurred_at=at)

    def _buy(self, name: str, customer: str, at: datetime, *, click: Envelope[LinkClicked] | None = None,
             code: str | None = None, order: str | None = None) -> Envelope[ConversionRecorded]:
        cid = uuid.uuid4()
        self.names[cid] = name
        return new_envelope(ConversionRecorded(
            conversion_id=cid, customer_id=customer, kind=ConversionKind.purchase, amount_minor=5000,
            referral_code=code, click_id=click.payload.click_id if click else None, order_id=order),
            tenant_id=self.tenant, occurred_at=at)

    def _refund(self, name: str, conv: Envelope[ConversionRecorded], at: datetime) -> Envelope[RefundRecorded]:
        rid = uuid.uuid4()
        self.names[rid] = name
        return new_envelope(RefundRecorded(
            refund_id=rid, conversion_id=conv.payload.conversion_id, amount_minor=1000, campaign_id="default",
            customer_id=conv.payload.customer_id, currency="EUR", refunded_total_minor=1000, full=False),
            tenant_id=self.tenant, occurred_at=at)


async def feed(pool: asyncpg.Pool, batches: list[list[Envelope[Any]]]) -> list[Envelope[Any]]:
    a = Attribution(hold_grace_s=600)
    handlers = {ShareRecorded: a.on_shares, LinkClicked: a.on_clicks, ConversionRecorded: a.on_conversions,
                RefundRecorded: a.on_refunds}
    emitted: list[Envelope[Any]] = []
    for batch in batches:
        batch = sorted(batch, key=lambda e: TOPIC_ORDER.index(e.payload.topic))
        async with pool.acquire() as conn, conn.transaction():
            for kind, run in groupby(batch, key=lambda e: type(e.payload)):
                emitted += await handlers[kind](conn, list(run))
    return emitted


async def outcome(pool: asyncpg.Pool, s: Scenario) -> tuple[dict[str, Any], dict[str, Any], list[str], int]:
    async with pool.acquire() as conn:
        decided = {s.names[r["conversion_id"]]: (r["outcome"], r["referrer_id"], r["reason"]) for r in await conn.fetch(
            "SELECT * FROM conversion_outcomes WHERE tenant_id = $1", s.tenant)}
        cascade = {r["referee_id"]: (r["referrer_id"], r["root_seeder_id"], r["generation"], r["upline"],
                                     s.names.get(r["parent_conversion_id"])) for r in await conn.fetch(
            "SELECT * FROM bindings WHERE tenant_id = $1", s.tenant)}
        reversed_ = sorted(s.names[r["refund_id"]] for r in await conn.fetch(
            "SELECT refund_id FROM reversals WHERE tenant_id = $1", s.tenant))
        held = await conn.fetchval("SELECT (SELECT count(*) FROM held_conversions WHERE tenant_id = $1) + "
                                   "(SELECT count(*) FROM held_refunds WHERE tenant_id = $1)", s.tenant)
    return decided, cascade, reversed_, held


@st.composite
def arrivals(draw: st.DrawFn, s: Scenario) -> list[list[Envelope[Any]]]:
    """An interleaving of the partitions, cut into batches."""
    queues = [list(p) for p in s.partitions]
    batches: list[list[Envelope[Any]]] = [[]]
    while any(queues):
        q = draw(st.sampled_from([q for q in queues if q]))
        batches[-1].append(q.pop(0))
        if draw(st.integers(0, 3)) == 0:
            batches.append([])
    return [b for b in batches if b]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
async def test_any_arrival_order_ends_in_the_same_attribution(pool: asyncpg.Pool, data: st.DataObject) -> None:
    s = Scenario()
    emitted = await feed(pool, data.draw(arrivals(s)))

    decided, cascade, reversed_, held = await outcome(pool, s)
    assert held == 0
    assert decided == EXPECTED_OUTCOMES
    assert cascade == EXPECTED_CASCADE
    assert reversed_ == ["r-ben1"]
    verdicts = sorted(s.names[e.payload.conversion_id] for e in emitted
                      if e.event_type not in ("AttributionReversed", "ReferralReparented"))
    assert verdicts == sorted(EXPECTED_OUTCOMES)  # one verdict each, none repeated
    # What a downstream reader of the topic ends up believing (later events supersede earlier ones)
    # is the cascade too, whichever order produced it.
    published: dict[str, tuple[Any, ...]] = {}
    for e in emitted:
        if e.event_type in ("ConversionAttributed", "ReferralReparented"):
            p = e.payload
            published[p.referee_id] = (p.referrer_id, p.root_seeder_id, p.generation)
    assert published == {who: place[:3] for who, place in EXPECTED_CASCADE.items()}
    assert [s.names[e.payload.refund_id] for e in emitted if e.event_type == "AttributionReversed"] == ["r-ben1"]


@pytest.mark.parametrize("batches", ["one batch", "two batches"])
async def test_a_conversion_queued_behind_one_that_expires_is_decided_right_after(pool: asyncpg.Pool,
                                                                                  batches: str) -> None:
    """In two batches, the later conversion learns from the database that its customer has one held."""
    s = Scenario()
    anna = s._share("anna", datetime.now(timezone.utc))
    lost = s._buy("lost", "hank", datetime.now(timezone.utc) - timedelta(minutes=2), code="NeverShared9")
    later = s._buy("later", "hank", datetime.now(timezone.utc) - timedelta(minutes=1),
                   code=anna.payload.referral_code)
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            # Held as of long ago, so the sweep (oldest first, at most 1,000) takes these before any
            # other tenant's held rows, however many a dev stack or a bench left in this database.
            a = Attribution(hold_grace_s=600, clock=lambda: datetime(2000, 1, 1, tzinfo=timezone.utc))
            await a.on_shares(conn, [anna])
            if batches == "one batch":
                assert await a.on_conversions(conn, [lost, later]) == []  # later waits behind lost
            else:
                assert await a.on_conversions(conn, [lost]) == []
                assert await a.on_conversions(conn, [later]) == []
            # Past the grace period; other tenants' held rows are rolled back with the rest.
            swept = await Attribution(hold_grace_s=600, clock=lambda: future).sweep_held(conn)
            mine = [(s.names[e.payload.conversion_id], e.event_type) for e in swept if e.tenant_id == s.tenant]
            assert mine == [("lost", "ConversionUnattributed"), ("later", "ConversionAttributed")]
        finally:
            await tx.rollback()


@pytest.mark.parametrize("replayed", [False, True], ids=["all new", "one decided before"])
async def test_a_large_batch_is_recorded_once_whether_or_not_it_repeats_a_decided_conversion(
        pool: asyncpg.Pool, replayed: bool) -> None:
    """From PLAIN_FROM conversions up, outcomes and bindings are inserted without a check per row; a
    conversion decided before (here sent again under a new event id) fails that, and the batch is
    written again checking each row: the repeat is not decided twice, the others once."""
    s, at = Scenario(), datetime.now(timezone.utc) - timedelta(minutes=5)
    anna = s._share("anna", at)
    first = s._buy("first", "ben", at, code=anna.payload.referral_code)
    await feed(pool, [[anna], [first]])
    new = [s._buy(f"n{i}", f"cust{i}", at + timedelta(seconds=i), code=anna.payload.referral_code)
           for i in range(PLAIN_FROM)]
    again = [first.model_copy(update={"event_id": uuid.uuid4()})] if replayed else []

    emitted = await feed(pool, [[*new[:10], *again, *new[10:]]])

    assert sorted(s.names[e.payload.conversion_id] for e in emitted) == sorted(f"n{i}" for i in range(PLAIN_FROM))
    decided, cascade, _, _ = await outcome(pool, s)
    assert decided == {"first": ("attributed", "anna", None),
                       **{f"n{i}": ("attributed", "anna", None) for i in range(PLAIN_FROM)}}
    assert cascade == {"ben": ("anna", "anna", 1, ["anna"], None),
                       **{f"cust{i}": ("anna", "anna", 1, ["anna"], None) for i in range(PLAIN_FROM)}}


@pytest.mark.parametrize("seeder", ["anna", "an\x1dna", 'an"[n]a'], ids=["plain", "separator", "json-like"])
async def test_an_upline_keeps_ids_whatever_characters_they_hold(pool: asyncpg.Pool, seeder: str) -> None:
    s, at = Scenario(), datetime.now(timezone.utc) - timedelta(minutes=5)
    top, ben = s._share(seeder, at), s._share("ben", at)
    await feed(pool, [[top, ben], [s._buy("ben1", "ben", at, code=top.payload.referral_code)],
                      [s._buy("cleo1", "cleo", at + timedelta(seconds=1), code=ben.payload.referral_code)]])
    _, cascade, _, _ = await outcome(pool, s)
    assert cascade == {"ben": (seeder, seeder, 1, [seeder], None), "cleo": ("ben", seeder, 2, [seeder, "ben"], "ben1")}
