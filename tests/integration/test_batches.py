"""The relay's batch sender against a real broker: records land on the partition the producer's
own partitioner picks for their key, in order, and a run many times larger than one batch is
split instead of overflowing the producer's buffer."""
from __future__ import annotations

import secrets
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from kaskade_contracts.topics import Topic
from kaskade_platform.batches import BatchSender, Record
from kaskade_platform.kafka import ensure_topics

pytestmark = pytest.mark.integration


async def _read_all(bootstrap: str, topic: str, partitions: int, expected: int) -> dict[int, list[Any]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: dict[int, list[Any]] = {p: [] for p in range(partitions)}
        for _ in range(200):
            for tp, recs in (await consumer.getmany(timeout_ms=200, max_records=10_000)).items():
                out[tp.partition] += recs
            if sum(map(len, out.values())) >= expected:
                break
        return out
    finally:
        await consumer.stop()


async def test_batches_keep_key_order_and_the_producers_partitioning(infra: Any) -> None:
    topic = f"kaskade.test-batches-{secrets.token_hex(4)}.v1"
    await ensure_topics(infra.kafka_bootstrap_servers, [Topic(topic, "x", "x", partitions=6)])
    # A small max batch so that 3,000 records of 200 bytes need dozens of batches per partition.
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers, enable_idempotence=True,
                                acks="all", max_batch_size=16 * 1024, linger_ms=5)
    await producer.start()
    try:
        keys = [f"customer-{i}".encode() for i in range(40)]
        records = [Record(topic, keys[i % len(keys)], f"{i:06d}".encode() + b"x" * 194,
                          [("seq", str(i).encode())]) for i in range(3000)]
        records.append(Record(topic, b"big", b"y" * 40_000, []))  # larger than a whole batch
        errors = await BatchSender(producer).send(records)
        assert errors == [None] * len(records)
        # Where the producer's own send() would have put each key.
        expected = {k: (await (await producer.send(topic, b"probe", key=k))).partition for k in keys + [b"big"]}
    finally:
        await producer.stop()
    try:
        got = await _read_all(infra.kafka_bootstrap_servers, topic, 6, len(records) + len(expected))
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
        await admin.start()
        await admin.delete_topics([topic, f"{topic}.dlq"])
        await admin.close()
    for partition, recs in got.items():
        for r in recs:
            assert expected[r.key] == partition, f"key {r.key!r} on partition {partition}"
    for k in keys:
        seqs = [int(r.value[:6]) for recs in got.values() for r in recs if r.key == k and r.value != b"probe"]
        assert seqs == sorted(seqs) and len(seqs) == 3000 // len(keys), k
        assert all(dict(r.headers)["seq"] == r.value[:6].lstrip(b"0").rjust(1, b"0")
                   for recs in got.values() for r in recs if r.key == k and r.value != b"probe")
    assert [r.value for recs in got.values() for r in recs if r.key == b"big"][0] == b"y" * 40_000
