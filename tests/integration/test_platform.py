"""The platform plumbing against real Kafka and Postgres: schema isolation, migrations, the
idempotent batch consumer with its dead-letter path, and the outbox relay.

Runs in the `kaskade_bench` scratch schema with a handler written for the test, so each failure
mode can be provoked on purpose.
"""
from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient
from faststream.kafka import KafkaBroker

from kaskade_contracts.envelope import Envelope, encode_envelope, new_envelope
from kaskade_contracts import topics
from kaskade_contracts.events import Channel, ConversionUnattributed, RecordShare
from kaskade_contracts.topics import Topic
from kaskade_devtools.testing import TopicWatcher, produce
from kaskade_platform.bundles import unpack
from kaskade_platform.claims import purge_claims
from kaskade_platform.consumer import BatchConsumer
from kaskade_platform.db import collation_warning, create_pool
from kaskade_platform.kafka import ensure_topics, subscribe
from kaskade_platform.migrations import MigrationError, migrate
from kaskade_platform.outbox import INSERT_BUNDLE, Outbox, kafka_header_pairs, kafka_headers
from kaskade_platform.recent import RecentEnvelopes
from kaskade_platform.relay import UNDECODABLE, OutboxRelay
from kaskade_platform.runtime import ServiceRuntime
from kaskade_platform.settings import ServiceSettings

pytestmark = pytest.mark.integration
SCHEMA = "kaskade_bench"


@pytest.fixture
async def pool(infra: Any) -> Any:
    dsn = os.environ["KASKADE_BENCH_DATABASE_URL"]
    p = await create_pool(dsn, SCHEMA, min_size=1, max_size=4)
    async with p.acquire() as conn:
        await migrate(conn, SCHEMA, Path("/nonexistent-no-service-migrations"))
        await conn.execute("CREATE TABLE IF NOT EXISTS test_effects (event_id uuid NOT NULL, sharer text NOT NULL)")
    yield p
    await p.close()


async def test_a_service_role_cannot_touch_another_services_schema(infra: Any) -> None:
    conn = await asyncpg.connect(infra.database_urls["reward"])
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for schema attribution"):
            await conn.fetch("SELECT * FROM attribution.bindings")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE attribution.stolen (x int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.stolen (x int)")
        # ...while its own schema is its to write.
        assert await conn.fetchval("SELECT has_schema_privilege('reward', 'CREATE')")
        assert not await conn.fetchval("SELECT has_schema_privilege('attribution', 'USAGE')")
    finally:
        await conn.close()


async def test_the_database_compares_text_keys_as_bytes(infra: Any) -> None:
    """bootstrap.sql creates the database with the C collation; a service names one that is not."""
    conn = await asyncpg.connect(infra.database_urls["reward"])
    try:
        assert await collation_warning(conn) is None, (
            "this database was created before bootstrap.sql set LC_COLLATE 'C'; `make reset` re-creates it")
        # Code point order, as the cascade's and review queues' paging expects.
        assert await conn.fetchval("SELECT array_agg(x ORDER BY x) FROM unnest(ARRAY['b', 'ä', 'B', 'a']) x") == [
            "B", "a", "b", "ä"]
    finally:
        await conn.close()


async def test_migrations_are_recorded_once_and_edits_are_refused(pool: Any, tmp_path: Path) -> None:
    (tmp_path / "0001_things.sql").write_text("CREATE TABLE IF NOT EXISTS migration_probe (x int);")
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM schema_migrations WHERE name = '0001_things.sql'")
        assert await migrate(conn, SCHEMA, tmp_path) == ["0001_things.sql"]
        assert await migrate(conn, SCHEMA, tmp_path) == []
        (tmp_path / "0001_things.sql").write_text("CREATE TABLE IF NOT EXISTS migration_probe (y int);")
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            await migrate(conn, SCHEMA, tmp_path)
        await conn.execute("DELETE FROM schema_migrations WHERE name = '0001_things.sql'")


def _share(tenant: str, sharer: str) -> Envelope[RecordShare]:
    return new_envelope(RecordShare(share_id=uuid.uuid4(), sharer_id=sharer, channel=Channel.email), tenant_id=tenant)


async def _store_effects(conn: asyncpg.Connection, events: list[Envelope[RecordShare]]) -> list[Envelope[Any]]:
    await _insert_effects(conn, events)
    return []


async def _insert_effects(conn: asyncpg.Connection, events: list[Envelope[RecordShare]]) -> None:
    await conn.executemany("INSERT INTO test_effects VALUES ($1, $2)",
                           [(e.event_id, e.payload.sharer_id) for e in events])


async def _run_consumer(infra: Any, pool: Any, topic: Topic, handler: Any, members: int = 1, max_records: int = 100,
                        kind: type[BatchConsumer] = BatchConsumer, **kw: Any) -> tuple[KafkaBroker, BatchConsumer]:
    await ensure_topics(infra.kafka_bootstrap_servers, [topic])
    broker = KafkaBroker(infra.kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    consumer = kind(name="test", group_id=f"test-{uuid.uuid4().hex[:8]}", broker=broker, outbox=Outbox(),
                             pool=lambda: pool, handlers={RecordShare: handler}, backoff_initial_s=0.01,
                             backoff_max_s=0.05, **kw)
    subscribe(broker, consumer, [topic], max_records=max_records, batch_timeout_ms=20, members=members)
    await broker.start()
    return broker, consumer


async def test_poison_messages_are_dead_lettered_and_neighbours_flow_on(infra: Any, pool: Any) -> None:
    topic = Topic(f"test.platform.{uuid.uuid4().hex[:8]}", "test", "scratch", partitions=1)
    tenant = f"t{uuid.uuid4().hex[:10]}"
    calls: list[str] = []

    async def handler(conn: asyncpg.Connection, events: list[Envelope[RecordShare]]) -> list[Envelope[Any]]:
        for e in events:
            calls.append(e.payload.sharer_id)
            if e.payload.sharer_id == "explodes":
                raise ValueError("this sharer always fails")
        await _insert_effects(conn, events)
        return []

    good = [_share(tenant, f"ok-{i}") for i in range(5)]
    failing = _share(tenant, "explodes")
    broker, consumer = await _run_consumer(infra, pool, topic, handler, max_attempts=3)
    try:
        async with TopicWatcher(infra.kafka_bootstrap_servers, (topic.dead_letter,)) as dlq:
            schema_invalid = b'{"event_type":"RecordShare","schema_version":1,"payload":{}}'
            await produce(infra.kafka_bootstrap_servers, [
                (topic.name, good[0].model_dump_json().encode(), {"kaskade-tenant-id": tenant}),
                (topic.name, b"\xff\x00 not json", {"x-origin": "fuzzer"}),
                (topic.name, good[1].model_dump_json().encode(), None),
                (topic.name, schema_invalid, None),
                (topic.name, failing.model_dump_json().encode(), None),
                (topic.name, b'{"event_type":"NoSuchEvent","schema_version":1}', None),
                *[(topic.name, g.model_dump_json().encode(), None) for g in good[2:]],
            ])
            await dlq.wait_for(lambda w: len(w.seen) == 4, 30, "4 dead letters")
            await asyncio.sleep(0.5)
            reasons = {dict(s.record.headers)["kaskade-dlq-reason"].decode(): s for s in dlq.seen}
        assert set(reasons) == {"undecodable", "schema_invalid", "handler_failed", "unknown_event_type"}
        assert reasons["undecodable"].record.value == b"\xff\x00 not json"  # original bytes
        assert dict(reasons["undecodable"].record.headers)["x-origin"] == b"fuzzer"  # original headers
        failed = dict(reasons["handler_failed"].record.headers)
        assert failed["kaskade-dlq-attempts"] == b"3"
        assert b"this sharer always fails" in failed["kaskade-dlq-error"]
        assert failed["kaskade-dlq-source-topic"] == topic.name.encode()
        rows = await pool.fetch("SELECT sharer FROM test_effects WHERE event_id = ANY($1::uuid[])",
                                [g.event_id for g in good] + [failing.event_id])
        assert sorted(r["sharer"] for r in rows) == sorted(g.payload.sharer_id for g in good)
        assert consumer.stats["dead_lettered"] == 4
    finally:
        await broker.stop()


async def test_an_event_whose_headers_name_a_contract_nobody_here_handles_is_skipped_undecoded(
        infra: Any, pool: Any) -> None:
    """Most verdicts reward reads are about purchases nobody referred: it skips them by their
    headers. A header naming a contract that does not live on the record's topic is not trusted."""
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, events: list[Envelope[RecordShare]]) -> list[Envelope[Any]]:
        applied.extend(e.payload.sharer_id for e in events)
        return []

    def rec(topic: str, headers_of: Envelope[Any], value: bytes) -> ConsumerRecord:
        return ConsumerRecord(topic, 0, 0, 0, 0, None, value, None, 0, len(value), kafka_header_pairs(headers_of))

    organic = new_envelope(ConversionUnattributed(conversion_id=uuid.uuid4(), campaign_id="spring",
                                                  customer_id="ben", reason="no_referral_link"), tenant_id="t-skip")
    share = _share("t-skip", "anna")
    consumer = BatchConsumer(name="test", group_id="test-skip", broker=None, outbox=Outbox(),  # type: ignore[arg-type]
                             pool=lambda: pool, handlers={RecordShare: handler})
    await consumer.process([
        # Garbage under an honest header of its topic: never decoded, so never dead-lettered (there is no broker).
        rec(topics.ATTRIBUTIONS.name, organic, b"not even json"),
        # A command whose header claims a verdict: the intake topic carries no verdicts, so it is decoded.
        rec(topics.INTAKE.name, organic, encode_envelope(share)),
    ])
    assert applied == ["anna"]
    assert consumer.stats == {"applied": 1, "duplicates": 0, "ignored": 1, "dead_lettered": 0}


async def test_a_redelivered_event_has_no_second_effect(infra: Any, pool: Any) -> None:
    topic = Topic(f"test.platform.{uuid.uuid4().hex[:8]}", "test", "scratch", partitions=2)
    tenant = f"t{uuid.uuid4().hex[:10]}"

    events = [_share(tenant, f"s{i}") for i in range(20)]
    broker, consumer = await _run_consumer(infra, pool, topic, _store_effects)
    try:
        # Every event twice, as after a crash before the offset commit.
        await produce(infra.kafka_bootstrap_servers,
                      [(topic.name, e.model_dump_json().encode(), None) for e in events * 2])
        for _ in range(200):
            if consumer.stats["applied"] + consumer.stats["duplicates"] >= 40:
                break
            await asyncio.sleep(0.05)
        counts = await pool.fetch("""SELECT event_id, count(*) AS n FROM test_effects
                                     WHERE event_id = ANY($1::uuid[]) GROUP BY event_id""",
                                  [e.event_id for e in events])
        assert len(counts) == 20 and all(r["n"] == 1 for r in counts)
        assert consumer.stats == {"applied": 20, "duplicates": 20, "ignored": 0, "dead_lettered": 0}
    finally:
        await broker.stop()


async def test_a_batch_applies_each_new_event_once_whether_repeated_in_it_or_claimed_before(pool: Any) -> None:
    """The claim reads back only what it must: a batch of new events, all distinct, applies whole; a
    copy within the batch, or an event a batch before claimed, is counted a duplicate and skipped."""
    tenant = f"t{uuid.uuid4().hex[:10]}"
    a, b, c, d = (_share(tenant, s) for s in "abcd")

    def rec(e: Envelope[Any]) -> ConsumerRecord:
        value = encode_envelope(e)
        return ConsumerRecord("test.claims", 0, 0, 0, 0, None, value, None, 0, len(value), kafka_header_pairs(e))

    consumer = BatchConsumer(name="test", group_id="test-claims", broker=None,  # type: ignore[arg-type]
                             outbox=Outbox(), pool=lambda: pool, handlers={RecordShare: _store_effects},
                             claim_scope="test-claims")
    await consumer.process([rec(a), rec(b)])
    assert consumer.stats["applied"] == 2 and consumer.stats["duplicates"] == 0
    await consumer.process([rec(c), rec(a), rec(c), rec(d), rec(b)])
    assert consumer.stats["applied"] == 4 and consumer.stats["duplicates"] == 3
    rows = await pool.fetch("SELECT sharer, count(*) AS n FROM test_effects WHERE event_id = ANY($1::uuid[]) "
                            "GROUP BY sharer", [e.event_id for e in (a, b, c, d)])
    assert sorted((r["sharer"], r["n"]) for r in rows) == [("a", 1), ("b", 1), ("c", 1), ("d", 1)]


async def test_two_members_in_one_process_split_the_partitions_and_apply_each_event_once(
        infra: Any, pool: Any) -> None:
    topic = Topic(f"test.platform.{uuid.uuid4().hex[:8]}", "test", "scratch", partitions=4)
    tenant = f"t{uuid.uuid4().hex[:10]}"
    in_flight, overlapped = 0, 0

    async def handler(conn: asyncpg.Connection, events: list[Envelope[RecordShare]]) -> list[Envelope[Any]]:
        nonlocal in_flight, overlapped
        in_flight += 1
        overlapped = max(overlapped, in_flight)
        await asyncio.sleep(0.05)  # long enough for the other member's batch to start meanwhile
        await _insert_effects(conn, events)
        in_flight -= 1
        return []

    events = [_share(tenant, f"s{i}") for i in range(400)]
    broker, consumer = await _run_consumer(infra, pool, topic, handler, members=2)
    try:
        await produce(infra.kafka_bootstrap_servers,
                      [(topic.name, e.model_dump_json().encode(), None) for e in events])
        for _ in range(400):
            if consumer.stats["applied"] >= len(events):
                break
            await asyncio.sleep(0.05)
        assignments = [s.consumer.assignment() for s in broker.subscribers]
        counts = await pool.fetch("""SELECT event_id, count(*) AS n FROM test_effects
                                     WHERE event_id = ANY($1::uuid[]) GROUP BY event_id""",
                                  [e.event_id for e in events])
    finally:
        await broker.stop()
    assert len(assignments) == 2 and all(assignments), assignments
    assert not set.intersection(*map(set, assignments))  # each partition has one owner
    assert len(counts) == len(events) and all(r["n"] == 1 for r in counts)
    assert overlapped == 2  # the two members' transactions did run at the same time


async def test_a_batch_commits_the_offsets_of_its_own_partitions_only(infra: Any, pool: Any) -> None:
    """Committed past each partition's last applied record; a partition the batch did not touch
    gets no commit (committing every held partition's position wrote dozens of unchanged offsets
    per batch)."""
    topic = Topic(f"test.platform.{uuid.uuid4().hex[:8]}", "test", "scratch", partitions=4)
    tenant = f"t{uuid.uuid4().hex[:10]}"

    broker, consumer = await _run_consumer(infra, pool, topic, _store_effects)
    group = consumer.group_id
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await admin.start()
    await producer.start()
    try:
        for partition, n in ((0, 130), (2, 7)):
            for i in range(n):
                await producer.send(topic.name, encode_envelope(_share(tenant, f"s{partition}-{i}")),
                                    partition=partition)
        await producer.flush()
        committed: dict[int, int] = {}
        for _ in range(200):
            got = await admin.list_consumer_group_offsets(group)
            committed = {tp.partition: o.offset for tp, o in got.items() if tp.topic == topic.name}
            if committed.get(0) == 130 and committed.get(2) == 7:
                break
            await asyncio.sleep(0.05)
    finally:
        await producer.stop()
        await admin.close()
        await broker.stop()
    assert committed == {0: 130, 2: 7}, committed
    assert consumer.stats["applied"] == 137


class _CountingDecodes(BatchConsumer):
    decoded = 0

    def decode(self, records: Any) -> Any:
        self.decoded += 1
        return super().decode(records)


async def _backlog(infra: Any, tenant: str, n: int) -> tuple[Topic, list[Envelope[RecordShare]]]:
    """n events waiting on a topic of one partition, so a member's batches come in full."""
    topic = Topic(f"test.platform.{uuid.uuid4().hex[:8]}", "test", "scratch", partitions=1)
    await ensure_topics(infra.kafka_bootstrap_servers, [topic])
    events = [_share(tenant, f"s{i:03}") for i in range(n)]
    await produce(infra.kafka_bootstrap_servers, [(topic.name, encode_envelope(e), None) for e in events])
    return topic, events


async def _committed(infra: Any, group: str, topic: Topic, want: int) -> int | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await admin.start()
    try:
        offset = None
        for _ in range(200):
            got = await admin.list_consumer_group_offsets(group)
            offset = next((o.offset for tp, o in got.items() if tp.topic == topic.name), None)
            if offset == want:
                break
            await asyncio.sleep(0.05)
        return offset
    finally:
        await admin.close()


async def _wait_for_decodes(consumer: Any, n: int) -> int:
    for _ in range(250):
        if consumer.decoded >= n:
            break
        await asyncio.sleep(0.02)
    return consumer.decoded


async def _work_off(infra: Any, pool: Any, n: int, on_first_batch: Any) -> tuple[list[str], list[str], int | None,
                                                                                _CountingDecodes]:
    """A member working off a backlog of n events in batches of 10; `on_first_batch(consumer)` runs
    inside the first batch's transaction (raising abandons it). Returns the events' sharers, the
    sharers as applied, the committed offset and the consumer."""
    topic, events = await _backlog(infra, f"t{uuid.uuid4().hex[:10]}", n)
    applied: list[str] = []
    first = True

    async def handler(conn: asyncpg.Connection, batch: list[Envelope[RecordShare]]) -> list[Envelope[Any]]:
        nonlocal first
        if first:
            first = False
            await on_first_batch(consumer)
        applied.extend(e.payload.sharer_id for e in batch)
        await _insert_effects(conn, batch)
        return []

    broker, consumer = await _run_consumer(infra, pool, topic, handler, max_records=10, kind=_CountingDecodes)
    try:
        committed = await _committed(infra, consumer.group_id, topic, n)
        await consumer.settled(10.0)
    finally:
        await broker.stop()
    rows = await pool.fetchval("SELECT count(DISTINCT event_id) FROM test_effects WHERE event_id = ANY($1::uuid[])",
                               [e.event_id for e in events])
    assert rows == n and consumer.stats["applied"] == n and consumer.stats["duplicates"] == 0
    return [e.payload.sharer_id for e in events], applied, committed, consumer


async def test_a_full_batch_applies_while_the_next_is_decoded_and_all_commit_in_order(infra: Any, pool: Any) -> None:
    """Working off a backlog, a member fetches and decodes its next batch while this one's
    transaction runs (member.py); each event still applies once, in its partition's order, and the
    offsets reach the end."""
    decoded_while_first_applied = 0

    async def hold_until_the_next_is_decoded(consumer: _CountingDecodes) -> None:
        nonlocal decoded_while_first_applied
        decoded_while_first_applied = await _wait_for_decodes(consumer, 2)

    sharers, applied, committed, _ = await _work_off(infra, pool, 95, hold_until_the_next_is_decoded)
    assert decoded_while_first_applied == 2
    assert applied == sharers
    assert committed == 95


async def test_a_batch_abandoned_at_shutdown_is_replayed_before_the_one_fetched_after_it(infra: Any, pool: Any) -> None:
    """The batch decoded while an abandoned one ran must not apply first, nor commit its offsets
    past the abandoned one's: it is rewound with it, and both come again in order."""
    async def abandon(consumer: _CountingDecodes) -> None:
        await _wait_for_decodes(consumer, 2)
        consumer.stopping = True  # a stop began: the failure below abandons the batch uncommitted
        raise ConnectionResetError("the database went away")

    sharers, applied, committed, _ = await _work_off(infra, pool, 40, abandon)
    assert applied == sharers
    assert committed == 40


async def _relayed(infra: Any, pool: Any, outbox: Outbox, tenant: str, n: int, batch_size: int) -> list[Any]:
    """Run a relay over the test schema's outbox until `n` of the tenant's events are on Kafka;
    returns them in the order they arrived."""
    await ensure_topics(infra.kafka_bootstrap_servers, [Topic("kaskade.intake.v1", "x", "x")])
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=True, acks="all")
    await producer.start()
    relay = OutboxRelay(pool, producer, outbox, SCHEMA, batch_size=batch_size, poll_interval_s=0.05)
    try:
        async with TopicWatcher(infra.kafka_bootstrap_servers, ("kaskade.intake.v1",),
                                keep=lambda s: s.envelope is not None and s.envelope.tenant_id == tenant) as out:
            relay.start()
            await out.wait_for(lambda w: len(w.seen) >= n, 30, f"{n} relayed events")
            await asyncio.sleep(0.5)  # nothing more (a duplicate, the rolled-back event) may follow
        return out.events()
    finally:
        await relay.stop()
        await producer.stop()


async def test_a_process_reads_back_what_its_outbox_wrote_without_decoding_it_again(pool: Any) -> None:
    """The bytes the outbox remembers are the bytes it stores for the relay to publish."""
    recent = RecentEnvelopes(100)
    events = [_share("t-recent", f"s{i}") for i in range(5)]
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await Outbox(recent).enqueue(conn, events)
            stored = await conn.fetchval("SELECT events FROM outbox_bundles WHERE event_ids = $1::uuid[]",
                                         [e.event_id for e in events])
        finally:
            await tx.rollback()
    assert [recent.decode(r.value) for r in unpack(stored)] == events
    assert (recent.hits, recent.misses) == (5, 0)


async def test_outbox_rows_reach_kafka_once_committed_and_never_when_rolled_back(infra: Any, pool: Any) -> None:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    # One sharer, so one partition key: the order on the partition must be the outbox order.
    committed = [_share(tenant, "one-sharer") for _ in range(30)]
    rolled_back = _share(tenant, "rolled-back")
    outbox = Outbox()
    async with pool.acquire() as conn:
        async with conn.transaction():
            await outbox.enqueue(conn, committed)
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await outbox.enqueue(conn, [rolled_back])
                raise RuntimeError("the state change failed")
    relayed = await _relayed(infra, pool, outbox, tenant, 30, batch_size=7)
    assert [e.event_id for e in relayed] == [e.event_id for e in committed]
    unpublished = await pool.fetchval(
        "SELECT count(*) FROM outbox_bundles WHERE event_ids && $1::uuid[] AND published_at IS NULL",
        [e.event_id for e in committed])
    assert unpublished == 0


async def test_rows_of_the_per_event_outbox_go_out_first_and_an_undecodable_bundle_is_set_aside(
        infra: Any, pool: Any) -> None:
    """An upgrade must not strand what the per-event outbox still holds, and one bundle nothing can
    read must not hold up the ones behind it."""
    tenant = f"t{uuid.uuid4().hex[:10]}"
    older = [_share(tenant, "one-sharer") for _ in range(3)]
    newer = [_share(tenant, "one-sharer") for _ in range(4)]
    outbox = Outbox()
    async with pool.acquire() as conn, conn.transaction():
        broken = await conn.fetchval(f"{INSERT_BUNDLE} RETURNING id", b"\x00\x40kaskade", [], 1, False)
        await outbox.enqueue(conn, newer)
        # Rows an instance from before bundles wrote (written last here, yet older than any bundle).
        await conn.execute(
            """INSERT INTO outbox (event_id, event_type, topic, partition_key, body, headers)
               SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::jsonb[])""",
            [e.event_id for e in older], [e.event_type for e in older], [e.payload.topic for e in older],
            [e.payload.partition_key(tenant).encode() for e in older], [encode_envelope(e) for e in older],
            [kafka_headers(e) for e in older])
    try:
        relayed = await _relayed(infra, pool, outbox, tenant, 7, batch_size=2)
        assert [e.event_id for e in relayed] == [e.event_id for e in older + newer]
        left = await pool.fetchrow("SELECT published_at, last_error FROM outbox_bundles WHERE id = $1", broken)
        assert left["published_at"] is None and left["last_error"] == UNDECODABLE
    finally:
        await pool.execute("DELETE FROM outbox_bundles WHERE id = $1", broken)


async def test_claims_older_than_the_retention_are_purged_in_chunks_and_younger_ones_kept(pool: Any) -> None:
    old, young = [uuid.uuid4() for _ in range(25)], [uuid.uuid4() for _ in range(5)]
    async with pool.acquire() as conn:
        # Claims left from earlier runs of this test are older still; clear them so the count is exact.
        await purge_claims(conn, 3 * 86_400)
        await conn.execute(
            """INSERT INTO processed_events (event_id, topic, consumer_group, processed_at)
               SELECT e, 'kaskade.test.v1', 'purge-test', now() - make_interval(days => d)
               FROM unnest($1::uuid[], $2::int[]) AS x(e, d)""",
            old + young, [20] * len(old) + [1] * len(young))
        assert await purge_claims(conn, 14 * 86_400, chunk=10) == len(old)
        left = {r["event_id"] for r in await conn.fetch(
            "SELECT event_id FROM processed_events WHERE event_id = ANY($1::uuid[])", old + young)}
    assert left == set(young)


async def test_an_instance_with_its_relay_off_leaves_the_outbox_to_one_with_it_on(infra: Any, pool: Any) -> None:
    def runtime(relay: bool) -> ServiceRuntime:
        settings = ServiceSettings(database_url=os.environ["KASKADE_BENCH_DATABASE_URL"], relay=relay,
                                   relay_poll_interval_s=0.05, service_name=f"relay-test-{relay}")
        return ServiceRuntime(settings, schema=SCHEMA, migrations_dir=Path("/nonexistent-no-service-migrations"),
                              topics=[Topic("kaskade.intake.v1", "x", "x")])

    event = _share(f"t{uuid.uuid4().hex[:10]}", "relayed-elsewhere")
    pending = "SELECT count(*) FROM outbox_bundles WHERE $1 = ANY(event_ids)"
    quiet = runtime(relay=False)
    await quiet.start()
    try:
        assert quiet.relay is None
        async with quiet.pool.acquire() as conn, conn.transaction():
            await quiet.outbox.enqueue(conn, [event])
        quiet.outbox.notify_committed()
        await asyncio.sleep(1.0)
        assert await pool.fetchval(pending, event.event_id) == 1  # nobody published it
        relaying = runtime(relay=True)
        async with TopicWatcher(infra.kafka_bootstrap_servers, ("kaskade.intake.v1",),
                                keep=lambda s: s.envelope is not None and s.envelope.event_id == event.event_id) as out:
            await relaying.start()
            try:
                await out.wait_for(lambda w: len(w.seen) == 1, 30, "the event, relayed by the other instance")
            finally:
                await relaying.stop()
        assert await pool.fetchval(pending, event.event_id) == 0
    finally:
        await quiet.stop()
