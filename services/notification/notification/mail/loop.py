"""The email delivery loop: plans due jobs into messages (rate limit, digests, opt-outs), then
claims due messages and sends them. It works from the database alone, so the Kafka consumer never
waits on a mail server, and several instances share the work.

Delivery is at least once per message and, in practice, exactly once: a message is recorded as
sent right after the server accepted it. Only a crash between those two steps sends it again
(after its lease), with the same Message-ID, which receivers use to drop the copy.
"""
from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone

import asyncpg

from notification import retry
from notification.config import Settings
from notification.mail import links, plan, repo
from notification.mail.render import compose
from notification.mail.smtp import Mailer, PermanentFailure

log = logging.getLogger(__name__)


class EmailDelivery:
    def __init__(self, settings: Settings, pool: Callable[[], asyncpg.Pool], mailer: Mailer | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.s, self.pool, self.clock = settings, pool, clock
        self.mailer = mailer or Mailer(settings)
        self.limits = plan.Limits(settings.email_burst, timedelta(seconds=settings.email_window_s),
                                  timedelta(seconds=settings.email_contact_wait_s))
        self.secret = settings.unsubscribe_secret.get_secret_value().encode()
        self.stats = {"sent": 0, "retried": 0, "failed": 0, "suppressed": 0}
        # One event per loop: a loop clearing a shared one could swallow another loop's wake-up.
        self._planner = asyncio.Event()
        self._senders = [asyncio.Event() for _ in range(settings.email_senders)]

    async def run(self) -> None:
        """One planner and `email_senders` senders, each a loop of its own: while one sender claims
        or records, the others keep the SMTP connections busy."""
        chunk = min(self.s.email_batch, self.s.smtp_connections * 4)
        loops = [self._repeat(self._plan_and_wake, self.s.email_batch, self._planner)]
        loops += [self._repeat(lambda: self.send_once(chunk), chunk, wake) for wake in self._senders]
        await asyncio.gather(*loops)

    def wake(self) -> None:
        """New email jobs were committed in this process: plan them now. The poll then only picks
        up jobs and retries coming due and work written elsewhere."""
        self._planner.set()

    async def _plan_and_wake(self) -> int:
        planned = await self.plan_once()
        if planned:
            for sender in self._senders:
                sender.set()
        return planned

    async def _repeat(self, step: Callable[[], Awaitable[int]], full: int, wake: asyncio.Event) -> None:
        while True:
            wake.clear()  # before the step: a wake-up during it is not lost
            try:
                done = await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the database may be away; try again shortly
                log.warning("email delivery round failed", extra={"error": repr(exc)}, exc_info=True)
                done = 0
            if done < full:
                try:
                    await asyncio.wait_for(wake.wait(), self.s.email_poll_interval_s)
                except TimeoutError:
                    pass

    async def plan_once(self) -> int:
        now = self.clock()
        async with self.pool().acquire() as conn, conn.transaction():
            jobs = await repo.claim_jobs(conn, self.s.email_batch, now)
            if not jobs:
                return 0
            recipients = [(j.tenant_id, j.recipient_id) for j in jobs]
            await repo.lock_recipients(conn, recipients)
            rows = await repo.contacts(conn, recipients)
            contacts = {k: plan.Contact(r["email"], r["unsubscribed_at"] is not None) for k, r in rows.items()}
            recent = await repo.recent_messages(conn, recipients, now - self.limits.window)
            await repo.apply_plan(conn, plan.plan(jobs, contacts, recent, now, self.limits), now)
        return len(jobs)

    async def send_once(self, limit: int | None = None) -> int:
        now = self.clock()
        async with self.pool().acquire() as conn, conn.transaction():
            claimed = await repo.claim_messages(conn, limit or self.s.email_batch, now,
                                                timedelta(seconds=self.s.email_lease_s))
            if not claimed:
                return 0
            contacts = await repo.contacts(conn, [(m["tenant_id"], m["recipient_id"]) for m in claimed])
            items = await repo.items(conn, [n for m in claimed for n in m["notification_ids"]])
        outcomes = await asyncio.gather(*(self._deliver(m, contacts.get((m["tenant_id"], m["recipient_id"])), items)
                                          for m in claimed))
        async with self.pool().acquire() as conn, conn.transaction():
            await repo.record_outcomes(conn, outcomes, self.clock())
        for o in outcomes:
            self.stats[{"sent": "sent", "pending": "retried", "failed": "failed"}.get(o[1], "suppressed")] += 1
        return len(claimed)

    async def _deliver(self, message: asyncpg.Record, contact: asyncpg.Record | None,
                       items: dict) -> tuple[asyncpg.Record, str, str | None, datetime | None]:
        # Checked again at sending: an unsubscribe or an erasure may have come since planning.
        if contact is None or not contact["email"] or contact["unsubscribed_at"] is not None:
            return message, "suppressed", "no contact" if contact is None else "unsubscribed or no address", None
        parts = sorted((items[n] for n in message["notification_ids"] if n in items), key=lambda i: i.created_at)
        if not parts:
            return message, "suppressed", "erased", None
        try:
            email = compose(message_id=message["message_id"], sender=self.s.mail_from, to=contact["email"],
                            items=parts, locale=contact["locale"], domain=self.s.mail_domain, now=self.clock(),
                            unsubscribe_url=links.unsubscribe_url(self.s.public_base_url, self.secret,
                                                                  message["message_id"]))
        except Exception as exc:  # noqa: BLE001 - a notification we cannot render fails alone
            log.error("email could not be rendered", extra={"message_id": str(message["message_id"]),
                                                            "error": repr(exc)})
            return message, "failed", f"render: {exc!r}"[:500], None
        try:
            await self.mailer.send(email)
        except PermanentFailure as exc:
            return message, "failed", str(exc)[:500], None
        except Exception as exc:  # noqa: BLE001 - any other failure is worth another attempt
            if message["attempts"] >= self.s.email_max_attempts:
                return message, "failed", repr(exc)[:500], None
            delay = retry.backoff_s(message["attempts"], self.s.email_backoff_initial_s, self.s.email_backoff_max_s,
                                    random.random())
            return message, "pending", repr(exc)[:500], self.clock() + timedelta(seconds=delay)
        return message, "sent", None, None
