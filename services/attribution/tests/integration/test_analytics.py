"""The viral analytics projection against real Kafka and Postgres: a small hand-made cascade is
published on the input topics (with attribution's verdicts written by hand, so the figures depend
on the projection alone), and the figures are read back through the query functions.

The cascade is the one tests/unit/test_analytics.py computes by hand (campaign "spring", day D):
  generation 0: anna (students; converts at t0; shares WhatsApp "a" sentiment 2, email "b" -1),
                bob (pros; shares WhatsApp "a" -2; never converts), zoe (pros; converts on D+1, never shares)
  generation 1: ben (students; signs up at t0+1h through a click on anna's WhatsApp, buys at t0+2h),
                cleo (pros; buys at t0+3h with anna's email code), dan (retirees; signs up at t0+1h
                with bob's code), fred (students; buys at t0+8h with anna's WhatsApp code)
  generation 2: eve (pros; buys at t0+5h through a click on ben's SMS link, shared at t0+2h, no sentiment)
Clicks: anna's WhatsApp 3, anna's email 1, bob's 1, ben's SMS 2.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from attribution import analytics_queries as q
from attribution import analytics_repo
from attribution.analytics_facts import CustomerFact
from attribution.analytics_handlers import TOPICS, consume_analytics
from attribution.analytics_queries import Dimension
from attribution.config import Settings
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (AttributionPath, AttributionReversed, Channel, ConversionAttributed,
                                      ConversionKind, ConversionRecorded, CustomerErased, LinkClicked, RefundKind,
                                      ReferralReparented, ShareRecorded)
from kaskade_devtools.testing import produce
from kaskade_platform.runtime import ServiceRuntime

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
# Claimed by this module's own group: a running attribution's analytics group sees the same events.
GROUP = f"attribution-analytics-test-{uuid.uuid4().hex[:8]}"
PROCESSED = ("SELECT count(*) FROM attribution.processed_events WHERE event_id = ANY($1::uuid[]) "
             "AND consumer_group = $2")


async def start_at_end(bootstrap: str, group_id: str) -> None:
    """Commit the topics' end offsets for a new group, so it skips the history other runs left."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh client knows no topics yet
        parts = [TopicPartition(t.name, p) for t in TOPICS for p in consumer.partitions_for_topic(t.name) or ()]
        consumer.assign(parts)
        await consumer.commit(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def projection(infra: Any) -> AsyncIterator[ServiceRuntime]:
    group = GROUP
    await start_at_end(infra.kafka_bootstrap_servers, group)
    rt = ServiceRuntime(Settings(), schema="attribution", migrations_dir=MIGRATIONS, topics=TOPICS)
    consume_analytics(rt, group_id=group)
    await rt.start()
    yield rt
    await rt.stop()


class Cascade:
    """One tenant's hand-made cascade, and the means to publish it and wait for the projection."""

    def __init__(self, infra: Any, admin: asyncpg.Pool) -> None:
        self.tenant = f"an-{uuid.uuid4().hex[:10]}"
        self.bootstrap, self.admin = infra.kafka_bootstrap_servers, admin
        midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        self.day = midnight - timedelta(days=2)
        self.t0 = self.day + timedelta(hours=6)

    def at(self, hours: float) -> datetime:
        return self.t0 + timedelta(hours=hours)

    def share(self, sharer: str, channel: Channel, variant: str, sentiment: int | None, segment: str,
              hours: float = -1) -> Envelope[ShareRecorded]:
        code = f"c{uuid.uuid4().hex[:11]}"
        return new_envelope(ShareRecorded(
            share_id=uuid.uuid4(), campaign_id="spring", sharer_id=sharer, channel=channel, message_variant=variant,
            sentiment=sentiment, sharer_segment=segment, referral_code=code, referral_url=f"https://go.test/r/{code}"),
            tenant_id=self.tenant, occurred_at=self.at(hours))

    def click(self, share: Envelope[ShareRecorded]) -> Envelope[LinkClicked]:
        return new_envelope(LinkClicked(
            click_id=uuid.uuid4(), referral_code=share.payload.referral_code, campaign_id="spring",
            sharer_id=share.payload.sharer_id, visitor_id=uuid.uuid4().hex, ip_hash="f" * 32),
            tenant_id=self.tenant, occurred_at=share.occurred_at + timedelta(minutes=30))

    def converts(self, customer: str, kind: ConversionKind, hours: float, segment: str, *,
                 code: Envelope[ShareRecorded] | None = None,
                 click: Envelope[LinkClicked] | None = None) -> Envelope[ConversionRecorded]:
        return new_envelope(ConversionRecorded(
            conversion_id=uuid.uuid4(), campaign_id="spring", customer_id=customer, kind=kind, amount_minor=2500,
            referral_code=code.payload.referral_code if code else None,
            click_id=click.payload.click_id if click else None, customer_segment=segment),
            tenant_id=self.tenant, occurred_at=self.at(hours))

    def attributed(self, conv: Envelope[ConversionRecorded], referrer: str, generation: int, path: AttributionPath,
                   parent: Envelope[ConversionRecorded] | None = None) -> Envelope[ConversionAttributed]:
        p = conv.payload
        return new_envelope(ConversionAttributed(
            conversion_id=p.conversion_id, campaign_id="spring", kind=p.kind, amount_minor=p.amount_minor,
            currency="EUR", referee_id=p.customer_id, referrer_id=referrer, root_seeder_id="anna",
            generation=generation, path=path, parent_conversion_id=parent.payload.conversion_id if parent else None),
            tenant_id=self.tenant, occurred_at=conv.occurred_at + timedelta(seconds=1))

    async def publish(self, events: list[Envelope[Any]]) -> None:
        """Publish and wait until the projection has applied every one of them."""
        await produce(self.bootstrap, events)
        ids = [e.event_id for e in events]
        await until_true(lambda: self.admin.fetchval(PROCESSED, ids, GROUP), len(ids))

    def build(self) -> tuple[list[Envelope[Any]], list[Envelope[Any]]]:
        """The cascade as two waves: everything but the shares, then the shares."""
        P, S = ConversionKind.purchase, ConversionKind.signup
        click, code = AttributionPath.click, AttributionPath.referral_code
        a_wa = self.share("anna", Channel.whatsapp, "a", 2, "students")
        a_em = self.share("anna", Channel.email, "b", -1, "students")
        b_wa = self.share("bob", Channel.whatsapp, "a", -2, "pros")
        ben_sms = self.share("ben", Channel.sms, "a", None, "students", hours=2)
        clicks = [self.click(a_wa) for _ in range(3)] + [self.click(a_em), self.click(b_wa)] + \
            [self.click(ben_sms) for _ in range(2)]
        ben_click, eve_click = clicks[0], clicks[-1]
        anna = self.converts("anna", P, 0, "students")
        zoe = self.converts("zoe", P, 24, "pros")
        ben_signs_up = self.converts("ben", S, 1, "students", click=ben_click)
        ben_buys = self.converts("ben", P, 2, "students")
        cleo = self.converts("cleo", P, 3, "pros", code=a_em)
        dan = self.converts("dan", S, 1, "retirees", code=b_wa)
        fred = self.converts("fred", P, 8, "students", code=a_wa)
        eve = self.converts("eve", P, 5, "pros", click=eve_click)
        verdicts = [self.attributed(ben_signs_up, "anna", 1, click),
                    self.attributed(ben_buys, "anna", 1, AttributionPath.bound_customer),
                    self.attributed(cleo, "anna", 1, code), self.attributed(dan, "bob", 1, code),
                    self.attributed(fred, "anna", 1, code), self.attributed(eve, "ben", 2, click, parent=ben_signs_up)]
        # Deliberately late: verdicts first, shares last.
        return verdicts + [anna, zoe, ben_signs_up, ben_buys, cleo, dan, fred, eve] + clicks, \
            [a_wa, a_em, b_wa, ben_sms]


async def until_true(fetch: Any, expected: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while (value := await fetch()) != expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout}s for {expected!r}, last saw {value!r}")
        await asyncio.sleep(0.1)


class Loaded:
    def __init__(self, cascade: Cascade, early: list[q.FunnelStep], waves: tuple[list[Any], list[Any]]) -> None:
        self.cascade, self.tenant, self.early, self.waves = cascade, cascade.tenant, early, waves


@pytest.fixture(scope="module")
async def loaded(projection: ServiceRuntime, infra: Any, admin: asyncpg.Pool) -> Loaded:
    cascade = Cascade(infra, admin)
    first, shares = cascade.build()
    await cascade.publish(first)
    async with projection.pool.acquire() as conn:
        early = await q.funnel(conn, cascade.tenant, "spring", Dimension.channel)
    await cascade.publish(shares)
    return Loaded(cascade, early, (first, shares))


async def figures(rt: ServiceRuntime, query: Any, tenant: str, *args: Any) -> Any:
    async with rt.pool.acquire() as conn:
        return await query(conn, tenant, "spring", *args)


def rows(steps: list[Any]) -> dict[Any, tuple[int, ...]]:
    return {s.key: (s.shares, s.clicks, s.signups, s.purchases) for s in steps}


async def test_clicks_and_referees_before_their_shares_wait_in_the_unknown_bucket(loaded: Loaded) -> None:
    assert rows(loaded.early) == {None: (0, 7, 2, 4)}


async def test_the_funnel_in_total_and_per_dimension(loaded: Loaded, projection: ServiceRuntime) -> None:
    t = loaded.tenant
    assert rows(await figures(projection, q.funnel, t)) == {"all": (4, 7, 2, 4)}
    assert rows(await figures(projection, q.funnel, t, Dimension.channel)) == {
        "email": (1, 1, 0, 1), "sms": (1, 2, 0, 1), "whatsapp": (2, 4, 2, 2)}
    assert rows(await figures(projection, q.funnel, t, Dimension.variant)) == {"a": (3, 6, 2, 3), "b": (1, 1, 0, 1)}
    assert rows(await figures(projection, q.funnel, t, Dimension.segment)) == {
        "pros": (1, 1, 1, 0), "students": (3, 6, 1, 4)}
    assert rows(await figures(projection, q.funnel, t, Dimension.generation)) == {0: (3, 5, 2, 3), 1: (1, 2, 0, 1)}
    assert rows(await figures(projection, q.funnel, t, Dimension.day)) == {
        loaded.cascade.day.date().isoformat(): (4, 7, 2, 4)}


async def test_k_factor_per_generation_and_per_acquisition_day(loaded: Loaded, projection: ServiceRuntime) -> None:
    k = {f.key: f for f in await figures(projection, q.k_factor, loaded.tenant)}
    assert {g: (f.customers, f.invites, f.won) for g, f in k.items()} == {0: (3, 3, 4), 1: (4, 1, 1), 2: (1, 0, 0)}
    assert (k[0].invites_per_customer, k[0].conversion_rate, k[0].k) == (1.0, pytest.approx(4 / 3),
                                                                         pytest.approx(4 / 3))
    assert (k[1].k, k[2].k) == (0.25, 0.0)

    day = loaded.cascade.day.date()
    by_day = {f.key: f for f in await figures(projection, q.k_factor, loaded.tenant, Dimension.day)}
    assert {d: (f.customers, f.invites, f.won) for d, f in by_day.items()} == {
        day.isoformat(): (7, 4, 5), (day + timedelta(days=1)).isoformat(): (1, 0, 0)}
    assert by_day[day.isoformat()].k == pytest.approx(5 / 7)


async def test_cycle_time_from_the_referrers_conversion_per_generation(loaded: Loaded,
                                                                        projection: ServiceRuntime) -> None:
    cycles = {c.generation: c for c in await figures(projection, q.cycle_time, loaded.tenant)}
    # ben 1 h, cleo 3 h, fred 8 h after anna's purchase; dan's referrer bob never converted.
    assert (cycles[1].referees, cycles[1].average_s, cycles[1].median_s) == (3, 4 * 3600, 3 * 3600)
    # eve 4 h after ben's signup.
    assert (cycles[2].referees, cycles[2].average_s, cycles[2].median_s) == (1, 4 * 3600, 4 * 3600)


async def test_share_of_negative_sentiment(loaded: Loaded, projection: ServiceRuntime) -> None:
    [total] = await figures(projection, q.sentiment, loaded.tenant)
    assert (total.shares, total.rated, total.negative) == (4, 3, 2)
    assert total.negative_share == pytest.approx(2 / 3)
    per_channel = {s.key: s.negative_share for s in await figures(projection, q.sentiment, loaded.tenant,
                                                                  Dimension.channel)}
    assert per_channel == {"email": 1.0, "sms": None, "whatsapp": 0.5}


async def test_segment_drift_from_the_seeders(loaded: Loaded, projection: ServiceRuntime) -> None:
    drift = {d.generation: d for d in await figures(projection, q.drift, loaded.tenant)}
    assert drift[0].mix == {"pros": 0.5, "students": 0.5}  # anna and bob; zoe never shared
    assert drift[1].mix == {"pros": 0.25, "retirees": 0.25, "students": 0.5}
    assert (drift[0].distance, drift[1].distance, drift[2].distance) == (0, pytest.approx(0.25), pytest.approx(0.5))


async def test_redelivered_and_republished_events_count_once(loaded: Loaded, projection: ServiceRuntime) -> None:
    first, shares = loaded.waves
    click = next(e for e in first if isinstance(e.payload, LinkClicked))
    share = shares[0]
    again = [new_envelope(e.payload, tenant_id=e.tenant_id, occurred_at=e.occurred_at) for e in (click, share)]
    # The same envelopes again, then copies under new event ids, each behind its original on its partition.
    await produce(loaded.cascade.bootstrap, [click, share])
    await loaded.cascade.publish(again)

    assert rows(await figures(projection, q.funnel, loaded.tenant)) == {"all": (4, 7, 2, 4)}
    assert [f.invites for f in await figures(projection, q.k_factor, loaded.tenant)] == [3, 1, 0]


async def test_a_purchase_refunded_in_full_leaves_the_funnel_and_a_partial_refund_does_not(
        projection: ServiceRuntime, infra: Any, admin: asyncpg.Pool) -> None:
    cascade = Cascade(infra, admin)
    first, shares = cascade.build()
    await cascade.publish(first + shares)
    verdicts = {(e.payload.referee_id, e.payload.kind): e.payload for e in first
                if isinstance(e.payload, ConversionAttributed)}

    def refund(who: str, amount: int, total: int) -> Envelope[AttributionReversed]:
        v = verdicts[(who, ConversionKind.purchase)]
        return new_envelope(AttributionReversed(
            conversion_id=v.conversion_id, refund_id=uuid.uuid4(), campaign_id="spring", kind=RefundKind.refund,
            referee_id=who, referrer_id=v.referrer_id, amount_minor=amount, refunded_total_minor=total,
            conversion_amount_minor=v.amount_minor, currency="EUR", full=total >= v.amount_minor),
            tenant_id=cascade.tenant)

    # cleo and ben (who also signed up) are refunded in full, cleo in two steps and then once more;
    # fred only in part.
    await cascade.publish([refund("cleo", 1000, 1000), refund("fred", 500, 500), refund("ben", 2500, 2500),
                           refund("cleo", 1500, 2500), refund("cleo", 0, 2500)])

    assert rows(await figures(projection, q.funnel, cascade.tenant)) == {"all": (4, 7, 2, 2)}
    assert rows(await figures(projection, q.funnel, cascade.tenant, Dimension.channel)) == {
        "email": (1, 1, 0, 0), "sms": (1, 2, 0, 1), "whatsapp": (2, 4, 2, 1)}


async def test_a_re_parented_cascade_moves_its_customers_to_their_new_generations(
        projection: ServiceRuntime, infra: Any, admin: asyncpg.Pool) -> None:
    cascade = Cascade(infra, admin)
    code = AttributionPath.referral_code
    ben_share, anna_share = cascade.share("ben", Channel.email, "a", None, "pros"), \
        cascade.share("anna", Channel.email, "a", None, "pros")
    cleo = cascade.converts("cleo", ConversionKind.purchase, 1, "pros", code=ben_share)
    ben = cascade.converts("ben", ConversionKind.purchase, 2, "pros", code=anna_share)
    # cleo was decided while ben still looked like a seeder; then ben was referred by anna.
    stale = cascade.attributed(cleo, "ben", 1, code)
    moved = [new_envelope(ReferralReparented(
        campaign_id="spring", referee_id=who, referrer_id=referrer, conversion_id=conv.payload.conversion_id,
        root_seeder_id="anna", generation=gen, upline=up), tenant_id=cascade.tenant)
        for who, referrer, conv, gen, up in (("ben", "anna", ben, 1, []), ("cleo", "ben", cleo, 2, ["anna"]))]
    await cascade.publish([ben_share, anna_share, cleo, ben, stale, cascade.attributed(ben, "anna", 1, code)] + moved)

    generations = dict(await admin.fetch(
        "SELECT customer_id, generation FROM attribution.analytics_customers WHERE tenant_id = $1", cascade.tenant))
    assert generations == {"anna": 0, "ben": 1, "cleo": 2}
    funnel = rows(await figures(projection, q.funnel, cascade.tenant, Dimension.generation))
    assert funnel == {0: (1, 0, 0, 1), 1: (1, 0, 0, 1)}  # anna's link won ben, ben's link (generation 1) won cleo


async def test_an_erased_customer_leaves_no_id_and_the_figures_keep_their_shape(
        projection: ServiceRuntime, infra: Any, admin: asyncpg.Pool) -> None:
    cascade = Cascade(infra, admin)
    first, shares = cascade.build()
    await cascade.publish(first + shares)
    before = await figures(projection, q.k_factor, cascade.tenant)

    await cascade.publish([new_envelope(CustomerErased(customer_id=who, replacement_id=f"erased-{who}"),
                                        tenant_id=cascade.tenant) for who in ("anna", "ben")])

    assert await figures(projection, q.k_factor, cascade.tenant) == before
    left = await admin.fetchval(
        """SELECT (SELECT count(*) FROM attribution.analytics_links WHERE tenant_id = $1 AND sharer_id = ANY($2))
                + (SELECT count(*) FROM attribution.analytics_customers WHERE tenant_id = $1
                   AND (customer_id = ANY($2) OR referrer_id = ANY($2)))""", cascade.tenant, ["anna", "ben"])
    assert left == 0


async def test_figures_are_per_tenant(loaded: Loaded, projection: ServiceRuntime) -> None:
    assert await figures(projection, q.funnel, f"an-{uuid.uuid4().hex[:10]}") == []
    assert await figures(projection, q.k_factor, loaded.tenant.replace("an-", "zz-")) == []


async def test_a_verdict_updates_its_customers_row_in_place(projection: ServiceRuntime) -> None:
    """The conversion inserts a customer's row, the verdict then sets the referrer. With the key as
    the table's only index and room kept on each page, that update writes no index entry (a
    heap-only update); with referrer_id indexed, every attributed purchase wrote three."""
    tenant, at = f"an-{uuid.uuid4().hex[:10]}", datetime(2024, 5, 1, tzinfo=timezone.utc)
    key = (tenant, "spring", "ben")
    # The backend's counts not flushed yet (earlier transactions' too): the difference is this update's.
    counts = ("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
              "WHERE relid = 'attribution.analytics_customers'::regclass")
    async with projection.pool.acquire() as conn, conn.transaction():
        await analytics_repo.upsert_customers(conn, {key: CustomerFact(purchases=1, first_converted_at=at)})
        before = await conn.fetchrow(counts)
        await analytics_repo.upsert_customers(conn, {key: CustomerFact(
            generation=1, referrer_id="anna", bound_by=uuid.uuid4(), bound_path="click")})
        after = await conn.fetchrow(counts)
        row = await conn.fetchrow("SELECT referrer_id, generation, purchases FROM analytics_customers "
                                  "WHERE tenant_id = $1 AND customer_id = 'ben'", tenant)
    assert (row["referrer_id"], row["generation"], row["purchases"]) == ("anna", 1, 1)
    assert (after["n_tup_upd"] - before["n_tup_upd"], after["n_tup_hot_upd"] - before["n_tup_hot_upd"]) == (1, 1)
