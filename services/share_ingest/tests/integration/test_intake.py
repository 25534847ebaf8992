"""share-ingest against real Kafka and Postgres: the HTTP intake, the referral redirect and the
Kafka intake topic, each judged where a caller would notice it (the response, the row, the event).

The service runs in this process with its real runtime; a later event on the same partition key
(a "sentinel") proves that a duplicate, had there been one, would already have been seen.
"""
from __future__ import annotations

import asyncio
import os

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from kaskade_contracts import topics
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import Channel, ConversionKind, RecordConversion, RecordShare
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce, register_tenant
from kaskade_platform.db import create_pool
from kaskade_platform.outbox import Outbox
from share_ingest import domain
from share_ingest.app import build
from share_ingest.clickwriter import ClickWriter, Visit
from share_ingest.redirect import LinkCache
from share_ingest.config import Settings

pytestmark = pytest.mark.integration
BASE_URL = "https://go.kaskade.test"
LANDING = "https://shop.kaskade.test/welcome?utm=kaskade"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
OPERATOR = "integration-operator-token"
AUTH: dict[str, dict[str, str]] = {}


async def auth(client: httpx.AsyncClient, tenant: str) -> dict[str, str]:
    """Headers authenticating as `tenant`, registering it through the operator API on first use."""
    if tenant not in AUTH:
        AUTH[tenant] = await register_tenant(client, tenant, OPERATOR)
    return AUTH[tenant]


@pytest.fixture(scope="module")
async def app(infra: Any) -> AsyncIterator[Any]:
    app, _ = build(Settings(public_base_url=BASE_URL, default_landing_url=LANDING, operator_token=OPERATOR))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        yield c


@pytest.fixture
async def tenant(client: httpx.AsyncClient) -> str:
    tenant = f"si-{uuid.uuid4().hex[:10]}"
    await auth(client, tenant)
    return tenant


def watch(infra: Any, tenant: str, *names: str) -> TopicWatcher:
    return TopicWatcher(infra.kafka_bootstrap_servers, names, keep=for_tenant(tenant))


async def share(client: httpx.AsyncClient, tenant: str, headers: dict[str, str] | None = None,
                **body: Any) -> httpx.Response:
    return await client.post("/v1/shares", json={"sharer_id": "anna", "channel": "whatsapp", **body},
                             headers={**await auth(client, tenant), **(headers or {})})


async def count(admin: asyncpg.Pool, table: str, tenant: str) -> int:
    return await admin.fetchval(f"SELECT count(*) FROM share_ingest.{table} WHERE tenant_id = $1", tenant)


async def test_a_share_gets_a_code_and_one_fact_per_idempotency_key(infra: Any, client: httpx.AsyncClient,
                                                                    admin: asyncpg.Pool, tenant: str) -> None:
    async with watch(infra, tenant, topics.SHARES.name) as shares:
        first = await share(client, tenant, {"Idempotency-Key": "order-77"}, sentiment=2)
        again = await share(client, tenant, {"Idempotency-Key": "order-77"}, sentiment=2)
        sentinel = await share(client, tenant)  # same sharer, so the same partition, after any duplicate
        await shares.wait_for(lambda w: any(e.payload.share_id == uuid.UUID(sentinel.json()["share_id"])
                                            for e in w.events()), 30, "the sentinel's ShareRecorded")

    assert first.status_code == 201, first.text
    code = first.json()["referral_code"]
    assert len(code) == 12 and first.json()["referral_url"] == f"{BASE_URL}/r/{code}"
    assert again.status_code == 200 and again.json() == first.json()
    facts = [e.payload for e in shares.events("ShareRecorded") if e.payload.referral_code == code]
    assert len(facts) == 1
    assert (facts[0].sharer_id, facts[0].channel, facts[0].sentiment) == ("anna", Channel.whatsapp, 2)
    assert await count(admin, "shares", tenant) == 2


async def test_the_same_share_id_returns_the_same_code_and_codes_differ_per_tenant(
        client: httpx.AsyncClient, tenant: str) -> None:
    share_id = str(uuid.uuid4())
    first = await share(client, tenant, share_id=share_id)
    again = await share(client, tenant, share_id=share_id, channel="email")
    elsewhere = await share(client, f"{tenant}-b", share_id=share_id)

    assert (first.status_code, again.status_code, elsewhere.status_code) == (201, 200, 201)
    assert again.json()["referral_code"] == first.json()["referral_code"]
    assert elsewhere.json()["referral_code"] != first.json()["referral_code"]


async def test_an_unknown_campaign_is_refused_and_nothing_is_written(client: httpx.AsyncClient, admin: asyncpg.Pool,
                                                                    tenant: str) -> None:
    r = await share(client, tenant, campaign_id="no-such-campaign")

    assert r.status_code == 422 and r.json()["error"] == "unknown_campaign"
    assert await count(admin, "shares", tenant) == 0


async def test_the_schema_refuses_facts_referring_to_nothing_and_never_deletes_what_they_refer_to(
        client: httpx.AsyncClient, tenant: str) -> None:
    r = await share(client, tenant)
    assert r.status_code == 201, r.text
    code = r.json()["referral_code"]
    conn = await asyncpg.connect(os.environ["KASKADE_SHARE_INGEST_DATABASE_URL"], server_settings={
        "search_path": "share_ingest"})
    try:
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="campaign nope of tenant"):
            await conn.execute(
                """INSERT INTO conversions (tenant_id, conversion_id, campaign_id, customer_id, kind, amount_minor,
                                            currency, occurred_at)
                   SELECT $1, gen_random_uuid(), c, 'ben', 'signup', 0, 'EUR', now()
                   FROM unnest(ARRAY['default', 'nope']) AS c""", tenant)
        with pytest.raises(asyncpg.ForeignKeyViolationError, match="referral code no-such-code"):
            await conn.execute(
                """INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent, referer,
                                       occurred_at)
                   SELECT $1, gen_random_uuid(), c, 'v', 'ip', 'ua', '', now()
                   FROM unnest(ARRAY[$2, 'no-such-code']) AS c""", tenant, code)
        for table in ("shares", "campaigns"):
            with pytest.raises(asyncpg.RestrictViolationError, match="never deleted"):
                await conn.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant)
        assert await conn.fetchval("SELECT count(*) FROM conversions WHERE tenant_id = $1", tenant) == 0
    finally:
        await conn.close()


async def test_the_reference_checks_probe_the_rows_written_never_every_share(
        client: httpx.AsyncClient, tenant: str) -> None:
    """A connection plans its checks once, often while shares are few: a check planned as a hash
    of every share would read them all at every click batch, more as shares accumulate."""
    r = await share(client, tenant)
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(os.environ["KASKADE_SHARE_INGEST_DATABASE_URL"], server_settings={
        "search_path": "share_ingest"})
    try:
        async with conn.transaction():
            await conn.execute(
                """INSERT INTO clicks (tenant_id, click_id, referral_code, visitor_id, ip_hash, user_agent, referer,
                                       occurred_at)
                   SELECT $1, gen_random_uuid(), $2, 'v' || g, 'ip', 'ua', '', now() FROM generate_series(1, 5000) g""",
                tenant, r.json()["referral_code"])
            await conn.execute(
                """INSERT INTO conversions (tenant_id, conversion_id, campaign_id, customer_id, kind, amount_minor,
                                            currency, occurred_at)
                   SELECT $1, gen_random_uuid(), 'default', 'c' || g, 'signup', 0, 'EUR', now()
                   FROM generate_series(1, 5000) g""", tenant)
            scans = dict(await conn.fetch("SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
                                          "WHERE relname IN ('shares', 'campaigns') AND schemaname = 'share_ingest'"))
        assert scans == {"shares": 0, "campaigns": 0}
        assert await conn.fetchval("SELECT count(*) FROM clicks WHERE tenant_id = $1", tenant) == 5000
    finally:
        await conn.close()


@pytest.mark.parametrize("path, body, field", [
    ("/v1/shares", {"sharer_id": "anna", "channel": "pigeon"}, "body.channel"),
    ("/v1/shares", {"sharer_id": "anna", "channel": "email", "sentiment": 3}, "body.sentiment"),
    ("/v1/shares", {"sharer_id": "has space", "channel": "email"}, "body.sharer_id"),
    ("/v1/conversions", {"conversion_id": str(uuid.uuid4()), "customer_id": "ben", "kind": "purchase",
                         "amount_minor": -1}, "body.amount_minor"),
    ("/v1/conversions", {"conversion_id": str(uuid.uuid4()), "customer_id": "ben", "kind": "refund"}, "body.kind"),
])
async def test_invalid_input_names_the_field_and_writes_nothing(client: httpx.AsyncClient, admin: asyncpg.Pool,
                                                                tenant: str, path: str, body: dict[str, Any],
                                                                field: str) -> None:
    r = await client.post(path, json=body, headers=await auth(client, tenant))

    assert r.status_code == 422
    assert r.json()["error"] == "validation_failed"
    assert [d["field"] for d in r.json()["detail"]] == [field]
    assert await count(admin, "shares", tenant) + await count(admin, "conversions", tenant) == 0


async def test_a_browser_click_redirects_and_counts_once_per_visitor(infra: Any, client: httpx.AsyncClient,
                                                                     admin: asyncpg.Pool, tenant: str) -> None:
    code = (await share(client, tenant)).json()["referral_code"]
    ua = {"User-Agent": BROWSER}
    async with watch(infra, tenant, topics.CLICKS.name) as clicks:
        first = await client.get(f"/r/{code}", headers=ua)
        visitor = first.cookies["kaskade_vid"]
        client.cookies.clear()
        again = await client.get(f"/r/{code}", headers={**ua, "Cookie": f"kaskade_vid={visitor}"})
        client.cookies.clear()
        other = await client.get(f"/r/{code}", headers=ua)  # another visitor: the sentinel
        other_click = httpx.URL(other.headers["location"]).params["kaskade_click"]
        await clicks.wait_for(lambda w: any(str(e.payload.click_id) == other_click for e in w.events()), 30,
                              "the second visitor's LinkClicked")

    assert first.status_code == 302 and again.status_code == 302
    location = httpx.URL(first.headers["location"])
    assert str(location).startswith("https://shop.kaskade.test/welcome?")
    assert (location.params["utm"], location.params["ref"]) == ("kaskade", code)
    click_id = location.params["kaskade_click"]
    assert httpx.URL(again.headers["location"]).params["kaskade_click"] == click_id
    assert [str(e.payload.click_id) for e in clicks.events("LinkClicked")] == [click_id, other_click]
    fact = clicks.events("LinkClicked")[0].payload
    assert (fact.referral_code, fact.sharer_id, fact.visitor_id) == (code, "anna", visitor)
    assert "127.0.0.1" not in fact.ip_hash
    assert await count(admin, "clicks", tenant) == 2


async def test_a_link_preview_bot_is_redirected_but_not_counted(infra: Any, client: httpx.AsyncClient,
                                                                admin: asyncpg.Pool, tenant: str) -> None:
    code = (await share(client, tenant)).json()["referral_code"]
    async with watch(infra, tenant, topics.CLICKS.name) as clicks:
        bot = await client.get(f"/r/{code}", headers={"User-Agent": "facebookexternalhit/1.1"})
        person = await client.get(f"/r/{code}", headers={"User-Agent": BROWSER})
        await clicks.wait_for(lambda w: w.events("LinkClicked"), 30, "the person's LinkClicked")

    assert bot.status_code == 302 and httpx.URL(bot.headers["location"]).params["ref"] == code
    assert "kaskade_vid" not in bot.cookies
    person_click = httpx.URL(person.headers["location"]).params["kaskade_click"]
    assert [str(e.payload.click_id) for e in clicks.events("LinkClicked")] == [person_click]
    assert await count(admin, "clicks", tenant) == 1


async def test_a_crowd_of_visitors_is_redirected_with_every_click_durable(client: httpx.AsyncClient,
                                                                           admin: asyncpg.Pool, tenant: str) -> None:
    """Group commit: concurrent visitors share transactions, yet each click is stored before its
    redirect, and a returning visitor's double click in the same instant is counted once."""
    code = (await share(client, tenant)).json()["referral_code"]
    returning = {"User-Agent": BROWSER, "Cookie": "kaskade_vid=rv-double-clicker"}
    answers = await asyncio.gather(*[client.get(f"/r/{code}", headers={"User-Agent": BROWSER}) for _ in range(60)],
                                   *[client.get(f"/r/{code}", headers=returning) for _ in range(5)])

    assert {a.status_code for a in answers} == {302}
    clicks = [httpx.URL(a.headers["location"]).params["kaskade_click"] for a in answers]
    assert len(set(clicks[:60])) == 60 and len(set(clicks[60:])) == 1
    stored = {str(r["click_id"]) for r in await admin.fetch(
        "SELECT click_id FROM share_ingest.clicks WHERE tenant_id = $1", tenant)}
    assert stored == set(clicks)
    assert {a.cookies["kaskade_vid"] for a in answers[60:]} == {"rv-double-clicker"}


async def test_a_repeat_click_in_a_batch_written_alongside_the_first_joins_that_click(infra: Any, client: httpx.AsyncClient,
                                                                                      admin: asyncpg.Pool,
                                                                                      tenant: str) -> None:
    """Batches of one and two writers: the repeat's batch runs while the first click is uncommitted, so
    the database cannot tell them apart; the writer must, or the visitor counts twice."""
    code = (await share(client, tenant)).json()["referral_code"]
    pool = await create_pool(infra.database_urls["share_ingest"], "share_ingest", min_size=2, max_size=2)
    try:
        writer = ClickWriter(lambda: pool, Outbox(), 1800, max_batch=1, max_in_flight=2)

        def visit(visitor: str) -> Visit:
            click = domain.link_clicked(uuid.uuid4(), code, "default", "anna", visitor, "ip", BROWSER, "")
            return Visit(new_envelope(click, tenant_id=tenant), returning=True)

        ids = await asyncio.gather(*[writer.record(visit("rv-quick")) for _ in range(4)],
                                   writer.record(visit("rv-other")))
    finally:
        await pool.close()
    assert len(set(ids[:4])) == 1 and ids[4] != ids[0]
    stored = await admin.fetch("SELECT visitor_id, click_id FROM share_ingest.clicks WHERE tenant_id = $1", tenant)
    assert sorted((r["visitor_id"], r["click_id"]) for r in stored) == [("rv-other", ids[4]), ("rv-quick", ids[0])]


async def test_a_paused_campaigns_links_answer_410_and_resume_brings_them_back(client: httpx.AsyncClient,
                                                                               tenant: str) -> None:
    h = await auth(client, tenant)
    code = (await share(client, tenant)).json()["referral_code"]
    assert (await client.get(f"/r/{code}", headers={"User-Agent": BROWSER})).status_code == 302

    assert (await client.post("/v1/campaigns/default/pause", headers=h)).status_code == 200
    paused = await eventually_status(client, code, 410)
    assert paused.headers["content-type"].startswith("text/html") and "ended" in paused.text

    assert (await client.post("/v1/campaigns/default/resume", headers=h)).status_code == 200
    assert (await eventually_status(client, code, 302)).headers["location"].startswith(LANDING)


class CountingPool:
    """The real pool, counting who takes a connection from it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.acquired = pool, 0

    def acquire(self) -> Any:
        self.acquired += 1
        return self.pool.acquire()


async def test_links_past_their_time_are_served_while_one_query_refreshes_them_all(
        infra: Any, client: httpx.AsyncClient, tenant: str) -> None:
    """One query per link every link_cache_s took the pool from the click writer in bursts."""
    h = await auth(client, tenant)
    codes = [(await share(client, tenant)).json()["referral_code"] for _ in range(12)]
    pool = await create_pool(infra.database_urls["share_ingest"], "share_ingest", min_size=1, max_size=2)
    try:
        counting = CountingPool(pool)
        cache = LinkCache(lambda: counting, ttl_s=0.2)
        loaded = [await cache.get(c) for c in codes]
        assert [link is not None and link.active for link in loaded] == [True] * len(codes)
        assert (await cache.get("NoSuchCode12")) is None
        assert (await client.post("/v1/campaigns/default/pause", headers=h)).status_code == 200
        await asyncio.sleep(0.3)
        loads = counting.acquired

        stale = [await cache.get(c) for c in [*codes, "NoSuchCode12"]]
        for _ in range(50):
            await asyncio.sleep(0.02)
            fresh = [await cache.get(c) for c in codes]
            if not any(link is not None and link.active for link in fresh):
                break
        refreshes = counting.acquired - loads
    finally:
        await pool.close()
    assert [link is not None and link.active for link in stale] == [True] * len(codes) + [False]
    assert stale[-1] is None
    assert [link is not None and link.active for link in fresh] == [False] * len(codes), "the pause never showed"
    assert refreshes in (1, 2, 3), f"{refreshes} queries refreshed 13 codes"


async def eventually_status(client: httpx.AsyncClient, code: str, status: int) -> httpx.Response:
    """Links are cached for link_cache_s (1 s): the change shows within a few seconds."""
    for _ in range(50):
        r = await client.get(f"/r/{code}", headers={"User-Agent": BROWSER})
        if r.status_code == status:
            return r
        await asyncio.sleep(0.1)
    raise AssertionError(f"/r/{code} still answers {r.status_code}, expected {status}")


@pytest.mark.parametrize("code", ["NoSuchCode12", "x" * 40])
async def test_an_unknown_code_is_a_404_page(client: httpx.AsyncClient, code: str) -> None:
    r = await client.get(f"/r/{code}", headers={"User-Agent": BROWSER})

    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")


async def test_a_conversion_is_accepted_once(infra: Any, client: httpx.AsyncClient, admin: asyncpg.Pool,
                                             tenant: str) -> None:
    def body(cid: str) -> dict[str, Any]:
        return {"conversion_id": cid, "customer_id": "ben", "kind": "purchase", "amount_minor": 4999,
                "currency": "EUR", "referral_code": "q8ZbN2xk4T"}

    cid, sentinel = str(uuid.uuid4()), str(uuid.uuid4())
    h = await auth(client, tenant)
    async with watch(infra, tenant, topics.CONVERSIONS.name) as out:
        first = await client.post("/v1/conversions", json=body(cid), headers=h)
        again = await client.post("/v1/conversions", json=body(cid), headers=h)
        await client.post("/v1/conversions", json=body(sentinel), headers=h)  # same customer, same partition
        await out.wait_for(lambda w: any(str(e.payload.conversion_id) == sentinel for e in w.events()), 30,
                           "the sentinel's ConversionRecorded")

    assert (first.status_code, first.json()) == (202, {"conversion_id": cid, "status": "accepted"})
    assert (again.status_code, again.json()["status"]) == (202, "duplicate")
    assert [str(e.payload.conversion_id) for e in out.events("ConversionRecorded")] == [cid, sentinel]
    assert out.events()[0].payload.referral_code == "q8ZbN2xk4T"
    assert await count(admin, "conversions", tenant) == 2


async def test_intake_commands_on_kafka_become_facts(infra: Any, admin: asyncpg.Pool, tenant: str) -> None:
    cmd_share = new_envelope(RecordShare(share_id=uuid.uuid4(), sharer_id="carla", channel=Channel.sms),
                             tenant_id=tenant)
    cmd_conv = new_envelope(RecordConversion(conversion_id=uuid.uuid4(), customer_id="dave",
                                             kind=ConversionKind.signup), tenant_id=tenant)
    async with watch(infra, tenant, topics.SHARES.name, topics.CONVERSIONS.name) as out:
        await produce(infra.kafka_bootstrap_servers, [cmd_share, cmd_conv])
        await out.wait_for(lambda w: w.events("ShareRecorded") and w.events("ConversionRecorded"), 30,
                           "ShareRecorded and ConversionRecorded")

    (shared,), (converted,) = out.events("ShareRecorded"), out.events("ConversionRecorded")
    assert (shared.payload.share_id, shared.payload.sharer_id) == (cmd_share.payload.share_id, "carla")
    # Any member of the share-ingest group may take the command, so only the URL's shape is ours to check.
    assert shared.payload.referral_url.endswith(f"/r/{shared.payload.referral_code}")
    assert (shared.causation_id, shared.correlation_id) == (cmd_share.event_id, cmd_share.correlation_id)
    assert (converted.payload.conversion_id, converted.causation_id) == (cmd_conv.payload.conversion_id,
                                                                         cmd_conv.event_id)
    assert await count(admin, "shares", tenant) == 1 and await count(admin, "conversions", tenant) == 1


async def test_an_intake_share_for_an_unknown_campaign_is_dead_lettered_while_its_neighbour_goes_on(
        infra: Any, admin: asyncpg.Pool, tenant: str) -> None:
    bad = new_envelope(RecordShare(share_id=uuid.uuid4(), sharer_id="erin", channel=Channel.email,
                                   campaign_id="no-such-campaign"), tenant_id=tenant)
    good = new_envelope(RecordShare(share_id=uuid.uuid4(), sharer_id="erin", channel=Channel.email),
                        tenant_id=tenant)
    async with watch(infra, tenant, topics.INTAKE.dead_letter) as dlq, \
            watch(infra, tenant, topics.SHARES.name) as shares:
        await produce(infra.kafka_bootstrap_servers, [bad, good])  # one key: one partition, one batch
        await dlq.wait_for(lambda w: w.seen, 30, "the dead letter")
        await shares.wait_for(lambda w: w.events("ShareRecorded"), 30, "the neighbour's ShareRecorded")

    (dead,) = dlq.seen
    assert dict(dead.record.headers)["kaskade-dlq-reason"] == b"unknown_campaign"
    assert dead.envelope is not None and dead.envelope.event_id == bad.event_id
    assert [e.payload.share_id for e in shares.events()] == [good.payload.share_id]
    assert await count(admin, "shares", tenant) == 1


async def test_a_conversion_repeated_within_one_intake_batch_is_recorded_once(infra: Any, tenant: str) -> None:
    cid = uuid.uuid4()
    copies = [new_envelope(RecordConversion(conversion_id=cid, customer_id="fay", kind=ConversionKind.purchase,
                                            amount_minor=100), tenant_id=tenant) for _ in range(2)]
    sentinel = new_envelope(RecordConversion(conversion_id=uuid.uuid4(), customer_id="fay",
                                             kind=ConversionKind.signup), tenant_id=tenant)
    async with watch(infra, tenant, topics.CONVERSIONS.name) as out:
        await produce(infra.kafka_bootstrap_servers, [*copies, sentinel])  # a producer retry, as the backend sees it
        await out.wait_for(lambda w: any(e.payload.conversion_id == sentinel.payload.conversion_id
                                         for e in w.events()), 30, "the sentinel's ConversionRecorded")

    assert [e.payload.conversion_id for e in out.events()] == [cid, sentinel.payload.conversion_id]


async def test_shares_and_conversions_carry_the_keyed_email_hash_and_segment_but_never_the_email(
        infra: Any, client: httpx.AsyncClient, tenant: str) -> None:
    h = await auth(client, tenant)
    for customer, email, segment in (("anna", "Anna@Example.org", "students"), ("ben", "ANNA@example.ORG", None)):
        r = await client.put(f"/v1/customers/{customer}", json={"email": email, "segment": segment}, headers=h)
        assert r.status_code == 200, r.text
    async with watch(infra, tenant, topics.SHARES.name, topics.CONVERSIONS.name) as out:
        await share(client, tenant)  # sharer anna
        for customer in ("ben", "carl"):  # carl has no profile
            await client.post("/v1/conversions", json={"conversion_id": str(uuid.uuid4()), "customer_id": customer,
                                                       "kind": "signup"}, headers=h)
        await out.wait_for(lambda w: len(w.events()) == 3, 30, "a share and two conversions")

    shared = out.events("ShareRecorded")[0].payload
    ben, carl = sorted((e.payload for e in out.events("ConversionRecorded")), key=lambda p: p.customer_id)
    assert shared.sharer_segment == "students" and ben.customer_segment is None
    assert shared.sharer_email_hash is not None and len(shared.sharer_email_hash) == 32
    assert ben.customer_email_hash == shared.sharer_email_hash  # the same address, however it is written
    assert carl.customer_email_hash is None and carl.customer_segment is None
    assert all("example.org" not in e.model_dump_json().lower() for e in out.events())
