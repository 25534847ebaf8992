"""The idempotent batch consumer every service uses, with bounded retries and a dead-letter path.

One Kafka batch becomes one Postgres transaction: the ids of the events are claimed in
`processed_events`, the handlers apply their effects and return the events they emit, which go
into the outbox, all in that transaction. Offsets are committed only after it commits, so a crash
anywhere replays the batch, and the claimed ids make the replay a no-op.

What can go wrong, and what happens:
- undecodable, unknown or schema-invalid bytes: dead-lettered at once, with the reason;
- the database is unreachable: retried with capped backoff for as long as it takes (the events
  are fine, so they must not be dead-lettered), and nothing is committed meanwhile;
- a handler fails: the batch is bisected to isolate the event at fault; that event is retried
  with backoff up to `max_attempts`, then dead-lettered with the error and the attempt count.
The partition then moves on.

An event of a type this consumer has no handler for is skipped without being decoded when its
headers name a contract that lives on its topic, as every Kaskade service's events do (most verdicts
reward reads are about purchases nobody referred). A header naming anything else is not trusted:
those bytes are decoded and, if bad, dead-lettered.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any

import asyncpg
from aiokafka import ConsumerRecord

from kaskade_contracts.envelope import Envelope, EnvelopeError, Payload, decode_envelope, registered
from kaskade_platform import logging as klog
from kaskade_platform.claims import Replayed, claim
from kaskade_platform.db import TRANSIENT_ERRORS, is_unavailable
from kaskade_platform.dedupe import first_of_each_new
from kaskade_platform.outbox import Outbox
from kaskade_platform.tasks import cancel_and_wait

if TYPE_CHECKING:
    from faststream.kafka import KafkaBroker

log = logging.getLogger(__name__)

# A handler applies a run of events of one type inside the batch transaction and returns the
# events it emits.
Handler = Callable[[asyncpg.Connection, list[Envelope[Any]]], Awaitable[Sequence[Envelope[Any]]]]


@dataclass(slots=True)
class Delivery:
    record: ConsumerRecord
    envelope: Envelope[Any]


@dataclass(slots=True)
class DeadLetter:
    record: ConsumerRecord
    reason: str
    error: str
    attempts: int


@dataclass(slots=True)
class Decoded:
    deliveries: list[Delivery]
    dead: list[DeadLetter]


class Unprocessable(Exception):
    """A handler's verdict that an event can never be applied (e.g. it names an unknown campaign).

    It is not retried: the event is isolated and dead-lettered at once under `reason`.
    """

    def __init__(self, reason: str, detail: str,
                 rejected: dict[uuid.UUID, tuple[str, str]] | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail
        # When the handler can name the events at fault (event id -> reason, detail), they are
        # dead-lettered and the rest of the batch is applied again, without bisecting.
        self.rejected = rejected or {}


class ShuttingDown(Exception):
    """Raised to abandon a batch without committing it: another instance will take it over."""


class BatchConsumer:
    def __init__(self, *, name: str, group_id: str, broker: "KafkaBroker", outbox: Outbox,
                 pool: Callable[[], asyncpg.Pool], handlers: dict[type[Payload], Handler],
                 max_attempts: int = 5, backoff_initial_s: float = 0.05, backoff_max_s: float = 5.0,
                 topic_order: Sequence[str] = (), claim_scope: str = "",
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 decode: Callable[[bytes | None], Envelope[Any]] = decode_envelope) -> None:
        self.name, self.group_id, self.broker, self.outbox = name, group_id, broker, outbox
        self._pool, self.handlers = pool, handlers
        self.max_attempts, self.backoff_initial_s, self.backoff_max_s = max_attempts, backoff_initial_s, backoff_max_s
        self._sleep = sleep
        self._decode = decode  # decode_envelope, or a process's RecentEnvelopes.decode
        # Which claims in processed_events are this consumer's: '' for the service's main group.
        self.claim_scope = claim_scope
        # A batch spans topics in fetch order; applying reference topics (campaigns) before the
        # topics that refer to them lets a campaign and its first conversions share a batch.
        self._topic_rank = {t: i for i, t in enumerate(topic_order)}
        self.stopping = False
        self.stats = {"applied": 0, "duplicates": 0, "ignored": 0, "dead_lettered": 0}
        # Called once a batch that applied new events has committed: work in this process that
        # reads what the handlers wrote (notification's delivery loops) starts now, not at its next poll.
        self.on_applied: list[Callable[[], None]] = []
        # Batches group members apply in the background (member.py); a stop waits for them.
        self.in_flight: set[asyncio.Task[None]] = set()
        # (topic, event type, schema version) as the outbox writes them in the first two headers.
        self._unhandled = frozenset((m.topic, m.event_type.encode(), str(m.schema_version).encode())
                                    for m in registered().values() if m not in handlers)

    async def settled(self, timeout_s: float) -> None:
        """Wait until the batches in flight have committed (or been rewound). Those still running
        after `timeout_s` are cancelled: uncommitted, they are replayed by whoever next holds their
        partitions, as FastStream's graceful timeout treats the batch it waits for."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self.in_flight:
            left = deadline - loop.time()
            if left <= 0:
                await cancel_and_wait(*self.in_flight)
                return
            await asyncio.wait(list(self.in_flight), timeout=left)

    def _named_unhandled(self, record: ConsumerRecord) -> bool:
        h = record.headers
        return (len(h) >= 2 and h[0][0] == "kaskade-event-type" and h[1][0] == "kaskade-schema-version"
                and (record.topic, h[0][1], h[1][1]) in self._unhandled)

    async def process(self, records: Sequence[ConsumerRecord]) -> None:
        """Apply a batch exactly once; raise only when the batch must not be committed."""
        await self.apply(self.decode(records))

    def decode(self, records: Sequence[ConsumerRecord]) -> Decoded:
        """The batch's events, in the order they are applied, and the records that can never be.
        No I/O: a group member decodes its next batch while this one's transaction runs (member.py)."""
        deliveries: list[Delivery] = []
        dead: list[DeadLetter] = []
        for record in records:
            if (record.value is None and record.key is not None) or self._named_unhandled(record):
                self.stats["ignored"] += 1  # a tombstone on a compacted topic, or an event not for us
                continue
            try:
                envelope = self._decode(record.value)
            except EnvelopeError as exc:
                dead.append(DeadLetter(record, exc.reason, exc.detail, 1))
                continue
            if type(envelope.payload) in self.handlers:
                deliveries.append(Delivery(record, envelope))
            else:
                # A valid event this consumer has no use for (a newer type on a shared topic).
                self.stats["ignored"] += 1
        if self._topic_rank:  # stable: each partition keeps its order
            deliveries.sort(key=lambda d: self._topic_rank.get(d.record.topic, len(self._topic_rank)))
        return Decoded(deliveries, dead)

    async def apply(self, batch: Decoded) -> None:
        """Apply a decoded batch exactly once; raise only when the batch must not be committed."""
        dead = list(batch.dead)
        if batch.deliveries:
            dead += await self._apply_with_retry(batch.deliveries)
        if dead:
            await self._dead_letter(dead)

    async def _apply_with_retry(self, batch: list[Delivery]) -> list[DeadLetter]:
        attempt, backoff = 0, self.backoff_initial_s
        while True:
            try:
                await self._apply(batch)
                return []
            except Exception as exc:  # noqa: BLE001 - every failure is classified below
                if self.stopping:
                    raise ShuttingDown from exc
                if is_unavailable(exc):
                    log.warning("database unavailable; retrying batch", extra={"consumer": self.name,
                                                                               "error": repr(exc)})
                    await self._sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max_s)
                    continue
                if isinstance(exc, Unprocessable) and exc.rejected:
                    culprits = [d for d in batch if d.envelope.event_id in exc.rejected]
                    if culprits:
                        rest = [d for d in batch if d.envelope.event_id not in exc.rejected]
                        dead = [DeadLetter(d.record, *exc.rejected[d.envelope.event_id], attempt + 1)
                                for d in culprits]
                        return dead + (await self._apply_with_retry(rest) if rest else [])
                if isinstance(exc, Unprocessable) and len(batch) == 1:
                    return [DeadLetter(batch[0].record, exc.reason, exc.detail, attempt + 1)]
                attempt += 1
                retryable = isinstance(exc, TRANSIENT_ERRORS)
                if len(batch) > 1 and (not retryable or attempt >= self.max_attempts):
                    # Bisect to find the event at fault; its neighbours go through.
                    mid = len(batch) // 2
                    return await self._apply_with_retry(batch[:mid]) + await self._apply_with_retry(batch[mid:])
                if attempt >= self.max_attempts:
                    record = batch[0].record
                    klog.correlation_id.set(str(batch[0].envelope.correlation_id))
                    log.error("event failed %d times; dead-lettering", attempt,
                              extra={"consumer": self.name, "topic": record.topic, "offset": record.offset,
                                     "error": repr(exc)})
                    return [DeadLetter(record, "handler_failed", repr(exc)[:2000], attempt)]
                await self._sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)

    async def _apply(self, batch: list[Delivery]) -> None:
        try:
            await self._apply_once(batch, careful=False)
        except Replayed:
            await self._apply_once(batch, careful=True)

    async def _apply_once(self, batch: list[Delivery], *, careful: bool) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            ids = [d.envelope.event_id for d in batch]
            new = await claim(conn, ids, [d.record.topic for d in batch], self.claim_scope, careful=careful)
            if new is None:
                fresh = [d.envelope for d in batch]
            else:
                fresh = [d.envelope for d in first_of_each_new(batch, lambda d: d.envelope.event_id, new)]
            emitted: list[Envelope[Any]] = []
            # Runs of one type keep the batch order while letting handlers work set-wise.
            for payload_type, run in groupby(fresh, key=lambda e: type(e.payload)):
                emitted.extend(await self.handlers[payload_type](conn, list(run)))
            await self.outbox.enqueue(conn, emitted)
        if emitted:
            self.outbox.notify_committed()
        if fresh:
            for listener in self.on_applied:
                listener()
        self.stats["applied"] += len(fresh)
        self.stats["duplicates"] += len(batch) - len(fresh)

    async def _dead_letter(self, dead: list[DeadLetter]) -> None:
        futures = []
        for item in dead:
            rec = item.record
            headers = {k: (v or b"").decode("utf-8", "replace") for k, v in rec.headers}
            headers.update({
                "kaskade-dlq-reason": item.reason,
                "kaskade-dlq-error": item.error[:2000],
                "kaskade-dlq-attempts": str(item.attempts),
                "kaskade-dlq-source-topic": rec.topic,
                "kaskade-dlq-source-partition": str(rec.partition),
                "kaskade-dlq-source-offset": str(rec.offset),
                "kaskade-dlq-consumer-group": self.group_id,
            })
            futures.append(await self.broker.publish(rec.value or b"", topic=f"{rec.topic}.dlq", key=rec.key,
                                                     headers=headers, no_confirm=True))
            log.warning("dead-lettered a message", extra={"consumer": self.name, "topic": rec.topic,
                                                          "offset": rec.offset, "reason": item.reason})
        # If the dead-letter topic cannot take them, the batch is not committed and comes back.
        await asyncio.gather(*futures)
        self.stats["dead_lettered"] += len(dead)
