"""A service process's lifecycle: connect, migrate, create topics, consume, relay, shut down cleanly.

Shutdown order matters: stop taking new batches and let the one in flight finish and commit;
then let the relay publish what is committed; only then close the producer and the pool.
"""
from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from kaskade_contracts.topics import Topic
from kaskade_platform import logging as klog
from kaskade_platform.claims import purge_claims
from kaskade_platform.consumer import BatchConsumer, Handler
from kaskade_platform.db import collation_warning, create_pool
from kaskade_platform.kafka import ensure_topics, make_broker, make_producer, subscribe
from kaskade_platform.migrations import migrate
from kaskade_platform.outbox import Outbox
from kaskade_platform.recent import RecentEnvelopes
from kaskade_platform.relay import OutboxRelay
from kaskade_platform.settings import ServiceSettings
from kaskade_contracts.envelope import Envelope, Payload, decode_envelope

log = logging.getLogger(__name__)
Job = Callable[[asyncpg.Connection], Awaitable[Sequence[Envelope[Any]]]]


class ServiceRuntime:
    def __init__(self, settings: ServiceSettings, *, schema: str, migrations_dir: Path,
                 topics: Iterable[Topic], recent: RecentEnvelopes | None = None) -> None:
        """`recent`: for a process whose consumers read the same events as one another, or read
        back what its outbox wrote; each such event is then decoded once."""
        self.settings, self.schema, self.migrations_dir = settings, schema, migrations_dir
        self.topics = tuple(topics)
        self.broker = make_broker(settings)
        self.recent = recent
        self.outbox = Outbox(recent)
        self.consumers: list[BatchConsumer] = []
        self._pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self._jobs: list[tuple[float, Job]] = []
        self._job_tasks: list[asyncio.Task[None]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("service not started")
        return self._pool

    def consume(self, topics: Sequence[Topic], handlers: dict[type[Payload], Handler], *,
                group_id: str | None = None, fetch_min_bytes: int | None = None,
                fetch_max_wait_ms: int | None = None) -> BatchConsumer:
        """Subscribe a batch consumer in this service's consumer group, or in `group_id` (which then
        claims event ids apart from the main group). Within a batch, events are applied in the order
        `topics` are listed (and in partition order within each). A consumer that can lag (a read
        model) may wait for fuller fetches than the settings' `consume_fetch_min_bytes`."""
        s = self.settings
        consumer = BatchConsumer(
            name=f"{s.service_name}:{'+'.join(t.name for t in topics)}", group_id=group_id or s.service_name,
            broker=self.broker, outbox=self.outbox, pool=lambda: self.pool, handlers=handlers,
            max_attempts=s.max_attempts, backoff_initial_s=s.retry_backoff_initial_s,
            backoff_max_s=s.retry_backoff_max_s, topic_order=[t.name for t in topics], claim_scope=group_id or "",
            decode=self.recent.decode if self.recent is not None else decode_envelope)
        subscribe(self.broker, consumer, topics, max_records=s.consume_max_records,
                  batch_timeout_ms=s.consume_batch_timeout_ms,
                  fetch_min_bytes=fetch_min_bytes or s.consume_fetch_min_bytes,
                  fetch_max_wait_ms=s.consume_fetch_max_wait_ms if fetch_max_wait_ms is None else fetch_max_wait_ms,
                  members=s.consume_members)
        self.consumers.append(consumer)
        return consumer

    def every(self, interval_s: float, job: Job) -> None:
        """Run `job` periodically in its own transaction; the events it returns go to the outbox."""
        self._jobs.append((interval_s, job))

    @property
    def periodic_jobs(self) -> list[Job]:
        return [job for _, job in self._jobs]

    async def run_job(self, job: Job) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            emitted = await job(conn)
            await self.outbox.enqueue(conn, emitted)
        if emitted:
            self.outbox.notify_committed()
        return len(emitted)

    async def _purge_claims_forever(self) -> None:
        """Each chunk commits on its own (no transaction around them): a purge never holds locks long."""
        while True:
            await asyncio.sleep(self.settings.claim_purge_interval_s)
            try:
                async with self.pool.acquire() as conn:
                    purged = await purge_claims(conn, self.settings.claim_retention_s)
                if purged:
                    log.info("purged expired claims", extra={"schema": self.schema, "claims": purged})
            except Exception as exc:  # noqa: BLE001 - housekeeping retries on its next tick
                log.warning("claim purge failed", extra={"error": repr(exc)})

    async def _repeat(self, interval_s: float, job: Job) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.run_job(job)
            except Exception as exc:  # noqa: BLE001 - a periodic job retries on its next tick
                log.warning("periodic job failed", extra={"job": getattr(job, "__name__", repr(job)),
                                                          "error": repr(exc)})

    async def start(self) -> None:
        s = self.settings
        self._pool = await create_pool(s.database_url, self.schema, min_size=s.db_pool_min, max_size=s.db_pool_max)
        async with self._pool.acquire() as conn:
            await migrate(conn, self.schema, self.migrations_dir)
            if slower := await collation_warning(conn):
                log.warning(slower, extra={"schema": self.schema})
        await ensure_topics(s.kafka_bootstrap_servers, self.topics)
        await self.broker.start()
        if s.relay:
            self.producer = make_producer(s)
            await self.producer.start()
            self.relay = OutboxRelay(self._pool, self.producer, self.outbox, self.schema,
                                     batch_size=s.relay_batch_size, poll_interval_s=s.relay_poll_interval_s,
                                     retention_s=s.outbox_retention_s, backoff_max_s=s.retry_backoff_max_s)
            self.relay.start()
        self._job_tasks = [asyncio.create_task(self._repeat(i, j)) for i, j in self._jobs]
        self._job_tasks.append(asyncio.create_task(self._purge_claims_forever()))
        log.info("service started", extra={"schema": self.schema})

    async def stop(self) -> None:
        for task in self._job_tasks:
            task.cancel()
        for consumer in self.consumers:
            consumer.stopping = True
        for consumer in self.consumers:
            await consumer.settled(self.settings.graceful_timeout_s)  # a batch handed to the background still commits
        for subscriber in self.broker.subscribers:
            await subscriber.stop()  # waits (graceful_timeout) for the batch in flight to commit
        if self.relay is not None:
            await self.relay.stop()
            await self.producer.stop()
        await self.broker.stop()
        if self._pool is not None:
            await self._pool.close()
        shared = ({"envelopes_read_again": self.recent.hits, "envelopes_decoded": self.recent.misses}
                  if self.recent is not None else {})
        log.info("service stopped", extra={"schema": self.schema, **shared})

    async def run_until_signalled(self) -> None:
        klog.configure(self.settings.service_name, self.settings.log_level)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        log.info("stopping on signal")
        await self.stop()
