"""Kafka wiring: the broker every service uses, topic creation, and batch subscriptions."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter

from kaskade_contracts.topics import DLQ_CONFIG, Topic
from kaskade_platform.consumer import BatchConsumer
from kaskade_platform.member import GroupMember
from kaskade_platform.settings import ServiceSettings

log = logging.getLogger(__name__)


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        # Exactly-once into Kafka from the relay's point of view: no duplicates from producer retries.
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
        graceful_timeout=settings.graceful_timeout_s,
        logger=logging.getLogger(f"{settings.service_name}.broker"),
    )


def make_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    """The outbox relay's producer. Plain aiokafka rather than the broker's publish: the relay sends
    bytes and headers it already has, and FastStream's per-message wrapping (a correlation id, a
    content type, middlewares) was a large share of its CPU on the busiest paths."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, client_id=f"{settings.service_name}-relay",
        # Exactly-once into Kafka from the relay's point of view: no duplicates from producer retries.
        enable_idempotence=True, acks="all", linger_ms=5, max_batch_size=256 * 1024)


async def ensure_topics(bootstrap_servers: str, topics: Iterable[Topic], replication_factor: int = 1) -> None:
    """Create the topics (and their dead-letter topics) a service touches; existing ones are left alone."""
    wanted: list[NewTopic] = []
    for t in topics:
        wanted.append(NewTopic(t.name, t.partitions, replication_factor, topic_configs=t.config))
        wanted.append(NewTopic(t.dead_letter, 1, replication_factor, topic_configs=DLQ_CONFIG))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another instance won the race
            log.info("created topics", extra={"topics": [t.name for t in missing]})
    finally:
        await admin.close()


async def _the_message(message: object) -> object:
    # The handler gets the batch's message itself, undecoded: the consumer decodes envelopes, so
    # bad bytes reach it (and the DLQ) instead of failing inside FastStream's JSON decoding. Taking
    # the message as the body, rather than injected from the context, also spares a worker-thread
    # hop per batch (fast_depends runs the context lookup in one) and validating the bodies' list.
    # A coroutine for the same reason: a plain function as decoder runs in a worker thread too.
    return message


async def _the_batch(records: tuple[ConsumerRecord, ...], original: Any) -> Any:
    """FastStream's message for a batch, parsed from its first record only: its parser decodes every
    record's headers into a dict (1% of a busy consumer's CPU) for fields nothing here reads. The
    message then carries the whole batch, which is what the handler and `nack` read."""
    if not isinstance(records, tuple) or len(records) < 2:
        return await original(records)
    message = await original(records[:1])
    message.raw_message = records
    return message


def subscribe(router: KafkaRouter | KafkaBroker, consumer: BatchConsumer, topics: Iterable[Topic], *,
              max_records: int, batch_timeout_ms: int, fetch_max_wait_ms: int = 100, fetch_min_bytes: int = 1,
              members: int = 1) -> None:
    """Register a batch subscriber that commits offsets only after the batch's transaction commits
    (each member's batches: member.py).

    With `members` > 1, that many Kafka consumers join the group from this process, each with
    partitions of its own, so one's transaction overlaps another's decoding; a partition is still
    applied by one of them at a time, in order, exactly as with more instances."""
    topics = tuple(topics)
    for _ in range(members):
        _subscribe_one(router, consumer, topics, max_records=max_records, batch_timeout_ms=batch_timeout_ms,
                       fetch_max_wait_ms=fetch_max_wait_ms, fetch_min_bytes=fetch_min_bytes)


def _subscribe_one(router: KafkaRouter | KafkaBroker, consumer: BatchConsumer, topics: tuple[Topic, ...], *,
                   max_records: int, batch_timeout_ms: int, fetch_max_wait_ms: int, fetch_min_bytes: int) -> None:

    router.subscriber(
        *(t.name for t in topics),
        group_id=consumer.group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=batch_timeout_ms,
        # A fetch that also covers idle partitions waits this long for them; aiokafka's 500 ms default
        # stalls a busy partition (all of a campaign's rewards share one) behind idle ones
        # (settings.consume_fetch_max_wait_ms).
        fetch_max_wait_ms=fetch_max_wait_ms,
        # Waiting for a fuller fetch (at most fetch_max_wait_ms) costs far less than a transaction per few events.
        fetch_min_bytes=fetch_min_bytes,
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
        parser=_the_batch,
        decoder=_the_message,
    )(GroupMember(consumer, max_records).consume)
