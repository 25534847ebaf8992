"""The outbox relay: publishes committed outbox rows to Kafka, in order, and retries what failed.

Only one relay per schema publishes at a time (a transaction-scoped advisory lock), which keeps
the outbox order on each partition even when ops run several instances; the others stand by and
take over when the holder dies. A crash after publishing but before marking rows sent republishes
them: consumers deduplicate on event id, so that costs nothing but a little traffic.
"""
from __future__ import annotations

import asyncio
import logging
import time

import asyncpg
from aiokafka import AIOKafkaProducer

from kaskade_platform.batches import BatchSender, Record
from kaskade_platform.db import is_unavailable
from kaskade_platform.outbox import Outbox

log = logging.getLogger(__name__)
PURGE_EVERY_S = 60.0


class OutboxRelay:
    def __init__(self, pool: asyncpg.Pool, producer: AIOKafkaProducer, outbox: Outbox, schema: str, *,
                 batch_size: int = 1000, poll_interval_s: float = 0.5, retention_s: float = 86400.0,
                 backoff_max_s: float = 5.0) -> None:
        self.pool, self.producer, self.outbox, self.schema = pool, producer, outbox, schema
        self.sender = BatchSender(producer)
        self.batch_size, self.poll_interval_s, self.retention_s = batch_size, poll_interval_s, retention_s
        self.backoff_max_s = backoff_max_s
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published_total = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.schema}")

    async def stop(self) -> None:
        """Publish what is already committed, then stop."""
        self._stopping.set()
        self.outbox.committed.set()
        if self._task:
            await self._task

    async def _run(self) -> None:
        backoff, last_purge = 0.05, time.monotonic()
        while True:
            # Cleared before reading the outbox: a commit landing while we publish wakes us again.
            self.outbox.committed.clear()
            try:
                published = await self.publish_once()
                backoff = 0.05
            except Exception as exc:  # noqa: BLE001 - the relay must outlive any single failure
                log.warning("outbox relay failed; will retry", extra={"error": repr(exc), "schema": self.schema,
                                                                     "unavailable": is_unavailable(exc)})
                published = 0
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.backoff_max_s)
                if self._stopping.is_set():
                    return
                continue
            if published >= self.batch_size:
                continue  # more is waiting
            if self._stopping.is_set():
                return
            if time.monotonic() - last_purge > PURGE_EVERY_S:
                await self._purge()
                last_purge = time.monotonic()
            try:
                await asyncio.wait_for(self.outbox.committed.wait(), self.poll_interval_s)
            except TimeoutError:
                pass

    async def publish_once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                       f"kaskade-relay:{self.schema}"):
                return 0
            rows = await conn.fetch(
                """SELECT id, topic, partition_key, body, headers FROM outbox
                   WHERE published_at IS NULL ORDER BY id LIMIT $1""", self.batch_size)
            if not rows:
                return 0
            # Hand every record to the producer first, then wait for all acks: one round trip per
            # batch instead of one per event. The producer is idempotent with acks=all.
            results = await self.sender.send([
                Record(r["topic"], r["partition_key"], r["body"],
                       [(k, v.encode()) for k, v in r["headers"].items()] if r["headers"] else []) for r in rows])
            sent = [r["id"] for r, err in zip(rows, results) if err is None]
            failed = [(r["id"], repr(err)) for r, err in zip(rows, results) if err is not None]
            if self.retention_s > 0:
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[]) AND ephemeral", sent)
                await conn.execute("UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", sent)
            else:  # Kafka holds the record now; a row kept would cost a second write and a purge
                await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", sent)
            if failed:
                await conn.execute(
                    """UPDATE outbox o SET attempts = o.attempts + 1, last_error = f.err
                       FROM unnest($1::bigint[], $2::text[]) AS f(id, err) WHERE o.id = f.id""",
                    [f[0] for f in failed], [f[1] for f in failed])
                log.warning("outbox publish failed for some events", extra={"failed": len(failed),
                                                                           "error": failed[0][1]})
        self.published_total += len(sent)
        return len(sent)

    async def _purge(self) -> None:
        try:
            await self.pool.execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)", self.retention_s)
        except Exception as exc:  # noqa: BLE001 - purging is housekeeping, never fatal
            log.warning("outbox purge failed", extra={"error": repr(exc)})
