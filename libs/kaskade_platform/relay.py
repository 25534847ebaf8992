"""The outbox relay: publishes committed outbox rows to Kafka, in order, and retries what failed.

Only one relay per schema publishes at a time (a transaction-scoped advisory lock), which keeps
the outbox order on each partition even when ops run several instances; the others stand by and
take over when the holder dies. A crash after publishing but before marking rows sent republishes
them: consumers deduplicate on event id, so that costs nothing but a little traffic.
"""
from __future__ import annotations

import asyncio
import logging
import struct
import time

import asyncpg
from aiokafka import AIOKafkaProducer

from kaskade_platform.batches import BatchSender, Record
from kaskade_platform.bundles import unpack
from kaskade_platform.db import is_unavailable
from kaskade_platform.outbox import Outbox

log = logging.getLogger(__name__)
PURGE_EVERY_S = 60.0
BUNDLES_PER_ROUND = 256
LEGACY_CHECK_S = 10.0
UNDECODABLE = "undecodable bundle"  # its last_error: never sent, left for an operator


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
        self.more_waiting = False
        self._legacy_due = 0.0  # when to look for rows of the per-event outbox next

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
            if self.more_waiting and published:
                continue
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
        """Publish what is waiting, oldest first, up to about `batch_size` events; returns how many
        went out. `more_waiting` then says whether to go again at once."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))",
                                       f"kaskade-relay:{self.schema}"):
                self.more_waiting = False
                return 0
            # Rows of the per-event outbox first (written before bundles, or by an instance not
            # upgraded yet): they are older than any bundle this instance wrote. Looked for at
            # start, then every LEGACY_CHECK_S while none turn up, not on every round.
            rows = []
            if time.monotonic() >= self._legacy_due:
                rows = await conn.fetch(
                    """SELECT id, topic, partition_key, body, headers FROM outbox
                       WHERE published_at IS NULL ORDER BY id LIMIT $1""", self.batch_size)
                self._legacy_due = 0.0 if rows else time.monotonic() + LEGACY_CHECK_S
            if rows:
                sent = await self._publish_rows(conn, rows)
                self.more_waiting = True
            else:
                sent = await self._publish_bundles(conn)
        self.published_total += sent
        return sent

    async def _publish_bundles(self, conn: asyncpg.Connection) -> int:
        # Whole bundles in order while fewer than batch_size events are taken (at least one bundle).
        bundles = await conn.fetch(
            """WITH queue AS (
                 SELECT id, sum(event_count) OVER (ORDER BY id) - event_count AS before
                 FROM outbox_bundles WHERE published_at IS NULL AND last_error IS DISTINCT FROM $3
                 ORDER BY id LIMIT $2)
               SELECT b.id, b.events FROM queue q JOIN outbox_bundles b USING (id)
               WHERE q.before < $1 ORDER BY b.id""", self.batch_size, BUNDLES_PER_ROUND, UNDECODABLE)
        if not bundles:
            self.more_waiting = False
            return 0
        records: list[Record] = []
        owner: list[int] = []  # the index in `bundles` of each record
        broken: dict[int, str] = {}
        for i, b in enumerate(bundles):
            try:
                unpacked = unpack(b["events"])
            except (ValueError, struct.error) as exc:
                # Nothing can send it: it stays for an operator, out of the queue, and the rest go on.
                broken[b["id"]] = UNDECODABLE
                log.error("undecodable outbox bundle left aside", extra={"bundle": b["id"], "error": repr(exc)})
                continue
            records += unpacked
            owner += [i] * len(unpacked)
        # Hand every record to the producer first, then wait for all acks: one round trip per
        # round instead of one per event. The producer is idempotent with acks=all.
        results = await self.sender.send(records)
        failed = dict(broken)
        for i, err in zip(owner, results):
            if err is not None:
                failed.setdefault(bundles[i]["id"], repr(err))
        sent = [b["id"] for b in bundles if b["id"] not in failed]
        # A failed bundle goes again whole: its records that did arrive arrive twice, and consumers
        # deduplicate them on event id.
        await self._settle(conn, "outbox_bundles", sent, failed)
        # A bundle was left for the next round only if this one took batch_size events or more.
        self.more_waiting = len(bundles) == BUNDLES_PER_ROUND or len(records) >= self.batch_size
        return sum(1 for i, err in zip(owner, results) if err is None and bundles[i]["id"] not in failed)

    async def _publish_rows(self, conn: asyncpg.Connection, rows: list[asyncpg.Record]) -> int:
        results = await self.sender.send([
            Record(r["topic"], r["partition_key"], r["body"],
                   [(k, v.encode()) for k, v in r["headers"].items()] if r["headers"] else []) for r in rows])
        sent = [r["id"] for r, err in zip(rows, results) if err is None]
        await self._settle(conn, "outbox", sent, {r["id"]: repr(err) for r, err in zip(rows, results)
                                                  if err is not None})
        return len(sent)

    async def _settle(self, conn: asyncpg.Connection, table: str, sent: list[int], failed: dict[int, str]) -> None:
        """Mark rows of `table` (outbox_bundles, or the per-event outbox) sent or failed."""
        if self.retention_s > 0:
            await conn.execute(f"DELETE FROM {table} WHERE id = ANY($1::bigint[]) AND ephemeral", sent)
            await conn.execute(f"UPDATE {table} SET published_at = now() WHERE id = ANY($1::bigint[])", sent)
        else:  # Kafka holds the records now; a row kept would cost a second write and a purge
            await conn.execute(f"DELETE FROM {table} WHERE id = ANY($1::bigint[])", sent)
        if failed:
            await conn.execute(
                f"""UPDATE {table} o SET attempts = o.attempts + 1, last_error = f.err
                    FROM unnest($1::bigint[], $2::text[]) AS f(id, err) WHERE o.id = f.id""",
                list(failed), list(failed.values()))
            log.warning("outbox publish failed for some rows", extra={"table": table, "failed": len(failed),
                                                                     "error": next(iter(failed.values()))})

    async def _purge(self) -> None:
        try:
            for table in ("outbox_bundles", "outbox"):
                await self.pool.execute(
                    f"DELETE FROM {table} WHERE published_at < now() - make_interval(secs => $1)", self.retention_s)
        except Exception as exc:  # noqa: BLE001 - purging is housekeeping, never fatal
            log.warning("outbox purge failed", extra={"error": repr(exc)})
