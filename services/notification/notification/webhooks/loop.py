"""The webhook delivery loop: claims due deliveries from the database (SKIP LOCKED, so instances
share the work), sends each signed POST in its own task with its own timeout, and records the
attempts in batches.

Isolation: an endpoint has at most `webhook_per_endpoint` attempts in flight and a tenant at most
`webhook_per_tenant`; the claim skips endpoints and tenants that are full, so a slow or hanging
endpoint holds only its own slots while everyone else's deliveries (and the email loop, which
runs separately) go on.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import asyncpg
import orjson
import yarl

from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import WebhookEndpointDisabled
from kaskade_platform.outbox import Outbox
from kaskade_platform.tasks import cancel_and_wait

from notification.config import Settings
from notification.webhooks import domain, repo, ssrf
from notification.webhooks.sealing import SealError, SecretBox

log = logging.getLogger(__name__)
PREFETCH = 2


class WebhookDelivery:
    def __init__(self, settings: Settings, pool: Callable[[], asyncpg.Pool], outbox: Outbox | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.s, self.pool, self.clock, self.outbox = settings, pool, clock, outbox or Outbox()
        self.box = SecretBox.from_setting(settings.webhook_secret_keys.get_secret_value())
        self.policy = domain.Policy(settings.webhook_max_attempts, settings.webhook_backoff_initial_s,
                                    settings.webhook_backoff_max_s, timedelta(seconds=settings.webhook_disable_after_s))
        self.lease = timedelta(seconds=settings.webhook_lease_s or settings.webhook_timeout_s * 2 + 30)
        # Held = claimed by this process (queued here or in flight); running = in flight.
        self.endpoint_held: Counter[uuid.UUID] = Counter()
        self.tenant_held: Counter[str] = Counter()
        self.endpoint_running: Counter[uuid.UUID] = Counter()
        self.tenant_running: Counter[str] = Counter()
        self.queues: dict[uuid.UUID, deque[asyncpg.Record]] = {}
        self.inflight: set[asyncio.Task[None]] = set()
        self.results: list[repo.Attempt] = []
        # Set when a slot frees or new deliveries are committed in this process: claim again now.
        self.nudged = asyncio.Event()
        self.stats = Counter[str]()
        self.session: aiohttp.ClientSession | None = None
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_s)
        self._targets: dict[str, yarl.URL | str] = {}  # URL -> parsed, or why it is refused

    def _target(self, url: str) -> yarl.URL | str:
        """Parsed once per URL (parsing and the address check cost more than the rest of a send)."""
        target = self._targets.get(url)
        if target is None:
            refused = ssrf.literal_refused(url, self.s.webhook_allow_loopback)
            target = self._targets[url] = "the URL's address is not allowed" if refused else yarl.URL(url)
            if len(self._targets) > 10_000:
                self._targets.clear()
        return target

    async def run(self) -> None:
        connector = aiohttp.TCPConnector(resolver=ssrf.GuardedResolver(self.s.webhook_allow_loopback), limit=0,
                                         ttl_dns_cache=60)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        flusher = asyncio.create_task(self._flush_forever())
        try:
            while True:
                self.nudged.clear()  # before claiming: a nudge during the claim is not lost
                room = self._room()
                claimed = await self._claim_round(room) if room > 0 else 0
                if claimed < room or room <= 0:
                    try:
                        await asyncio.wait_for(self.nudged.wait(), self.s.webhook_poll_interval_s)
                    except TimeoutError:
                        pass
        finally:
            await cancel_and_wait(*self.inflight, flusher)
            await self._flush()
            await self._release()
            await self.session.close()

    def wake(self) -> None:
        """New deliveries were committed in this process: claim them now. The poll then only picks
        up retries coming due and work written elsewhere."""
        self.nudged.set()

    def _room(self) -> int:
        return min(self.s.webhook_batch, PREFETCH * self.s.webhook_concurrency - sum(self.endpoint_held.values()))

    async def _claim_round(self, room: int) -> int:
        """Claims up to PREFETCH times what may be in flight per endpoint and tenant: the extra waits
        in this process and starts the moment a slot frees, without a round trip to the database."""
        try:
            async with self.pool().acquire() as conn:
                rows = await repo.claim(conn, now=self.clock(), lease=self.lease, limit=room,
                                        per_endpoint=PREFETCH * self.s.webhook_per_endpoint,
                                        per_tenant=PREFETCH * self.s.webhook_per_tenant,
                                        endpoint_busy=+self.endpoint_held, tenant_busy=+self.tenant_held)
        except Exception as exc:  # noqa: BLE001 - the database may be away; try again shortly
            log.warning("claiming webhook deliveries failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.s.webhook_poll_interval_s)
            return 0
        for row in rows:
            self.endpoint_held[row["endpoint_id"]] += 1
            self.tenant_held[row["tenant_id"]] += 1
            self.queues.setdefault(row["endpoint_id"], deque()).append(row)
        self._dispatch()
        return len(rows)

    def _dispatch(self) -> None:
        """Starts queued deliveries while their endpoint, their tenant and the process have room."""
        for endpoint_id, queue in list(self.queues.items()):
            while queue and self.endpoint_running[endpoint_id] < self.s.webhook_per_endpoint \
                    and self.tenant_running[queue[0]["tenant_id"]] < self.s.webhook_per_tenant \
                    and len(self.inflight) < self.s.webhook_concurrency:
                row = queue.popleft()
                self.endpoint_running[endpoint_id] += 1
                self.tenant_running[row["tenant_id"]] += 1
                task = asyncio.create_task(self._attempt(row))
                self.inflight.add(task)
                task.add_done_callback(self._done(row))
            if not queue:
                del self.queues[endpoint_id]

    def _done(self, row: asyncpg.Record) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self.inflight.discard(task)
            for counter, key in ((self.endpoint_running, row["endpoint_id"]), (self.endpoint_held, row["endpoint_id"]),
                                 (self.tenant_running, row["tenant_id"]), (self.tenant_held, row["tenant_id"])):
                counter[key] -= 1
                if counter[key] <= 0:
                    del counter[key]
            self._dispatch()
            self.nudged.set()
        return done

    async def _release(self) -> None:
        """On shutdown, deliveries claimed but not started are handed back at once (not after their lease)."""
        ids = [row["delivery_id"] for queue in self.queues.values() for row in queue]
        self.queues.clear()
        if ids:
            try:
                async with self.pool().acquire() as conn:
                    await repo.release(conn, ids)
            except Exception as exc:  # noqa: BLE001 - their lease runs out instead
                log.warning("releasing webhook deliveries failed", extra={"error": repr(exc)})

    async def reseal(self, conn: asyncpg.Connection) -> list[Any]:
        """Periodic job: seal secrets stored in clear, and move those sealed under an older key of
        the ring to the current one, a few hundred per tick."""
        for row in await repo.not_sealed_under(conn, self.box.current_prefix, 500):
            try:
                new = self.box.reseal(row["secret"], row["endpoint_id"])
            except SealError as exc:
                log.error("a webhook secret cannot be resealed", extra={"endpoint_id": str(row["endpoint_id"]),
                                                                       "error": str(exc)})
                continue
            if new is not None:
                await repo.replace_secret(conn, row["endpoint_id"], row["secret"], new)
        return []

    async def _attempt(self, row: asyncpg.Record) -> None:
        assert self.session is not None
        at, started = self.clock(), time.monotonic()
        code: int | None = None
        error: str | None = None
        retry_after: str | None = None
        refused = None
        try:
            target = self._target(row["url"])
            if isinstance(target, str):
                raise ssrf.UnsafeUrl(target)
            body = orjson.dumps(row["payload"])
            secret = self.box.open(row["secret"], row["endpoint_id"])  # a SealError is this attempt's error
            headers = domain.headers(secret, domain.webhook_id(row["delivery_id"]), int(at.timestamp()), body)
            async with self.session.post(target, data=body, headers=headers, allow_redirects=False,
                                         timeout=self.timeout) as resp:
                code, retry_after = resp.status, resp.headers.get("Retry-After")
                await resp.content.read(4096)  # the answer's body is not used; read a little so the connection is reused
        except ssrf.UnsafeUrl as exc:
            error = refused = str(exc)
        except TimeoutError:
            error = f"timeout after {self.s.webhook_timeout_s:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            error = repr(exc)[:500]
        attempt = row["attempts"] - row["round_start"]
        outcome = domain.decide(status_code=code, retry_after=retry_after, attempt=attempt,
                                failing_since=row["failing_since"], now=self.clock(), policy=self.policy,
                                jitter=random.random())
        if refused:
            outcome = domain.Outcome("failed", disable=refused)
        self.stats[outcome.status] += 1
        self.results.append(repo.Attempt(
            row["delivery_id"], row["endpoint_id"], row["tenant_id"], row["attempts"], at,
            int((time.monotonic() - started) * 1000), code, error, outcome.status, outcome.retry_at, outcome.disable))

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(self.s.webhook_flush_interval_s)
            try:
                await self._flush()
            except Exception as exc:  # noqa: BLE001 - kept for the next flush; leases cover a crash
                log.warning("recording webhook attempts failed", extra={"error": repr(exc)})

    async def _flush(self) -> None:
        if not self.results:
            return
        batch, self.results = self.results, []
        try:
            async with self.pool().acquire() as conn, conn.transaction():
                disabled = await repo.record(conn, batch)
                await self.outbox.enqueue(conn, [new_envelope(WebhookEndpointDisabled(
                    endpoint_id=d["endpoint_id"], url=d["url"], reason=d["reason"]), tenant_id=d["tenant_id"])
                    for d in disabled])
        except BaseException:
            self.results[:0] = batch
            raise
        if disabled:
            self.outbox.notify_committed()
        for d in disabled:
            log.warning("webhook endpoint disabled", extra={"tenant_id": d["tenant_id"],
                                                           "endpoint_id": str(d["endpoint_id"]), "detail": d["detail"]})
