"""Helpers for tests, the demo and the benchmark: publish to real topics and watch what comes out."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from kaskade_contracts.envelope import Envelope, EnvelopeError, decode_envelope, encode_envelope
from kaskade_platform.outbox import kafka_headers
from kaskade_platform.tasks import cancel_and_wait


async def produce(bootstrap: str, items: Iterable[Envelope[Any] | tuple[str, bytes, dict[str, str] | None]]) -> None:
    """Publish envelopes (to their own topic) or raw (topic, bytes, headers) triples; waits for acks."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = []
        for item in items:
            if isinstance(item, Envelope):
                futures.append(await producer.send(
                    item.payload.topic, encode_envelope(item), key=item.payload.partition_key(item.tenant_id).encode(),
                    headers=[(k, v.encode()) for k, v in kafka_headers(item).items()]))
            else:
                topic, raw, headers = item
                futures.append(await producer.send(topic, raw, headers=[(k, v.encode()) for k, v in (headers or {}).items()]))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass
class Seen:
    record: ConsumerRecord
    envelope: Envelope[Any] | None
    received_at: float


@dataclass
class TopicWatcher:
    """Reads topics from their current end (no consumer group), keeping what matches `keep`."""
    bootstrap: str
    topics: tuple[str, ...]
    keep: Callable[[Seen], bool] = lambda s: True
    seen: list[Seen] = field(default_factory=list)
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "TopicWatcher":
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                          auto_offset_reset="latest")
        await self._consumer.start()
        parts = [TopicPartition(t, p) for t in self.topics
                 for p in (self._consumer.partitions_for_topic(t) or await self._partitions(t))]
        self._consumer.assign(parts)
        await self._consumer.seek_to_end(*parts)
        for tp in parts:  # resolve positions now, so nothing produced after this point is missed
            await self._consumer.position(tp)
        self._task = asyncio.create_task(self._run())
        return self

    async def _partitions(self, topic: str) -> set[int]:
        assert self._consumer is not None
        await self._consumer._client.force_metadata_update()  # noqa: SLF001 - topic may be brand new
        return self._consumer.partitions_for_topic(topic) or set()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100, max_records=5000)
            now = time.monotonic()
            for records in batches.values():
                for r in records:
                    try:
                        env = decode_envelope(r.value)
                    except EnvelopeError:
                        env = None
                    s = Seen(r, env, now)
                    if self.keep(s):
                        self.seen.append(s)

    async def __aexit__(self, *exc: object) -> None:
        await cancel_and_wait(self._task)
        if self._consumer:
            await self._consumer.stop()

    def events(self, event_type: str | None = None) -> list[Envelope[Any]]:
        return [s.envelope for s in self.seen if s.envelope is not None
                and (event_type is None or s.envelope.event_type == event_type)]

    async def wait_for(self, predicate: Callable[["TopicWatcher"], bool], timeout: float, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what or predicate}; "
                                   f"saw {len(self.seen)} matching records")
            await asyncio.sleep(0.05)


def for_tenant(tenant_id: str) -> Callable[[Seen], bool]:
    def keep(s: Seen) -> bool:
        headers = dict(s.record.headers)
        return headers.get("kaskade-tenant-id") == tenant_id.encode() or (
            s.envelope is not None and s.envelope.tenant_id == tenant_id)
    return keep


async def register_tenant(client: Any, tenant_id: str, operator_token: str | None = None) -> dict[str, str]:
    """Create a tenant through share-ingest's operator API; returns headers that authenticate as it."""
    import os

    token = operator_token or os.environ["KASKADE_SHARE_INGEST_OPERATOR_TOKEN"]
    r = await client.post("/admin/v1/tenants", json={"tenant_id": tenant_id, "name": tenant_id},
                          headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 201:
        raise RuntimeError(f"could not register tenant {tenant_id}: {r.status_code} {r.text}")
    return {"Authorization": f"Bearer {r.json()['api_key']}"}


async def allow_instant_purchases(client: Any, auth: dict[str, str], campaign_id: str = "default") -> None:
    """Scripted shoppers buy in the same second they click, which the default fraud rules refuse as
    click injection (under 10 s): turn that one check off for the campaign, the others stay on."""
    r = await client.get(f"/v1/campaigns/{campaign_id}", headers=auth)
    r.raise_for_status()
    terms = r.json()["terms"]
    terms["fraud"] = {**terms.get("fraud", {}), "min_click_to_conversion_seconds": 0}
    r = await client.put(f"/v1/campaigns/{campaign_id}", json=terms, headers=auth)
    r.raise_for_status()
