"""SQL of email delivery: jobs written by the consumer, planned into messages, claimed and recorded.
Claims use FOR UPDATE SKIP LOCKED, so several instances share the work without waiting on each other."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import asyncpg

from kaskade_platform.texts import packed
from notification.domain import Notification
from notification.mail import plan as p
from notification.mail.render import Item


async def add_jobs(conn: asyncpg.Connection, notes: Sequence[Notification], contact_wait: timedelta) -> None:
    """A job is due at once when its recipient's contact is known. Otherwise it is due when the
    wait for the contact runs out (`wake_jobs` brings it forward if the contact comes): planning
    would only put it off to then, at the cost of a claim and a second write of every such job."""
    notes = [n for n in notes if n.emailed]
    if notes:
        await conn.execute(
            """INSERT INTO email_jobs (notification_id, tenant_id, recipient_id, due_at)
               SELECT x.n, x.t, x.r, CASE WHEN EXISTS (SELECT 1 FROM contacts c WHERE c.tenant_id = x.t
                                                                                 AND c.customer_id = x.r)
                                          THEN now() ELSE now() + $4::interval END
               FROM unnest($1::uuid[], unpack_texts($2), unpack_texts($3)) AS x(n, t, r) ON CONFLICT DO NOTHING""",
            [n.notification_id for n in notes], packed([n.tenant_id for n in notes]),
            packed([n.recipient_id for n in notes]),
            contact_wait)


async def wake_jobs(conn: asyncpg.Connection, recipients: Sequence[p.Recipient]) -> None:
    """A contact arrived: jobs that were waiting for it are due now."""
    if recipients:
        await conn.execute(
            """UPDATE email_jobs j SET due_at = now() FROM unnest($1::text[], $2::text[]) AS k(t, r)
               WHERE j.tenant_id = k.t AND j.recipient_id = k.r AND j.status = 'pending' AND j.due_at > now()""",
            [r[0] for r in recipients], [r[1] for r in recipients])


async def claim_jobs(conn: asyncpg.Connection, limit: int, now: datetime) -> list[p.Job]:
    rows = await conn.fetch(
        """SELECT notification_id, tenant_id, recipient_id, created_at FROM email_jobs
           WHERE status = 'pending' AND due_at <= $2 ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED""", limit, now)
    return [p.Job(**dict(r)) for r in rows]


async def lock_recipients(conn: asyncpg.Connection, recipients: Iterable[p.Recipient]) -> None:
    """Serialises planners per recipient (in a fixed order, so two planners cannot deadlock), so
    the rate limit counts what the other planner has just committed."""
    keys = sorted(set(recipients))
    await conn.execute(
        """SELECT pg_advisory_xact_lock(k) FROM (
             SELECT DISTINCT hashtextextended('email:' || t || chr(1) || r, 0) AS k
             FROM unnest($1::text[], $2::text[]) AS x(t, r)) s ORDER BY k""",
        [k[0] for k in keys], [k[1] for k in keys])


async def contacts(conn: asyncpg.Connection, recipients: Iterable[p.Recipient]) -> dict[p.Recipient, asyncpg.Record]:
    keys = list(set(recipients))
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.customer_id, c.email, c.locale, c.unsubscribed_at FROM contacts c
           JOIN unnest($1::text[], $2::text[]) AS k(t, r) ON c.tenant_id = k.t AND c.customer_id = k.r""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["customer_id"]): r for r in rows}


async def recent_messages(conn: asyncpg.Connection, recipients: Iterable[p.Recipient],
                          since: datetime) -> dict[p.Recipient, list[datetime]]:
    keys = list(set(recipients))
    rows = await conn.fetch(
        """SELECT m.tenant_id, m.recipient_id, m.created_at FROM email_messages m
           JOIN unnest($1::text[], $2::text[]) AS k(t, r) ON m.tenant_id = k.t AND m.recipient_id = k.r
           WHERE m.created_at > $3 AND m.status IN ('pending', 'sent')""",
        [k[0] for k in keys], [k[1] for k in keys], since)
    out: dict[p.Recipient, list[datetime]] = {}
    for r in rows:
        out.setdefault((r["tenant_id"], r["recipient_id"]), []).append(r["created_at"])
    return out


async def apply_plan(conn: asyncpg.Connection, plan: p.Plan, now: datetime) -> None:
    pairs = [(m, n) for m in plan.messages for n in m.notification_ids]
    if pairs:
        await conn.execute(
            """INSERT INTO email_messages (message_id, tenant_id, recipient_id, notification_ids, kind, created_at,
                                           due_at)
               SELECT m, t, r, array_agg(n), CASE WHEN count(*) > 1 THEN 'digest' ELSE 'single' END, $5, $5
               FROM unnest($1::uuid[], unpack_texts($2), unpack_texts($3), $4::uuid[]) AS x(m, t, r, n)
               GROUP BY m, t, r ON CONFLICT DO NOTHING""",
            [m.message_id for m, _ in pairs], packed([m.tenant_id for m, _ in pairs]),
            packed([m.recipient_id for m, _ in pairs]),
            [n for _, n in pairs], now)
        await conn.execute(
            """UPDATE email_jobs j SET status = 'queued', message_id = x.m
               FROM unnest($1::uuid[], $2::uuid[]) AS x(n, m) WHERE j.notification_id = x.n""",
            [n for _, n in pairs], [m.message_id for m, _ in pairs])
    if plan.suppressed:
        ids, reasons = [n for n, _ in plan.suppressed], [r for _, r in plan.suppressed]
        await conn.execute(
            """UPDATE email_jobs j SET status = 'suppressed', reason = x.why
               FROM unnest($1::uuid[], $2::text[]) AS x(n, why) WHERE j.notification_id = x.n""", ids, reasons)
        await set_notification_status(conn, ids, "suppressed")
    if plan.deferred:
        await conn.execute(
            """UPDATE email_jobs j SET due_at = x.until
               FROM unnest($1::uuid[], $2::timestamptz[]) AS x(n, until) WHERE j.notification_id = x.n""",
            [n for n, _ in plan.deferred], [u for _, u in plan.deferred])


async def set_notification_status(conn: asyncpg.Connection, ids: Sequence[uuid.UUID], status: str) -> None:
    await conn.execute("UPDATE notifications SET status = $2 WHERE notification_id = ANY($1::uuid[])", ids, status)


async def claim_messages(conn: asyncpg.Connection, limit: int, now: datetime, lease: timedelta) -> list[asyncpg.Record]:
    """Due messages, leased: one whose sender dies before recording the outcome is due again after
    `lease` and sent once more (with the same Message-ID)."""
    return await conn.fetch(
        """UPDATE email_messages m SET due_at = $2::timestamptz + $3::interval, attempts = m.attempts + 1
           FROM (SELECT message_id FROM email_messages WHERE status = 'pending' AND due_at <= $2
                 ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED) c
           WHERE m.message_id = c.message_id
           RETURNING m.message_id, m.tenant_id, m.recipient_id, m.notification_ids, m.attempts""", limit, now, lease)


async def items(conn: asyncpg.Connection, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Item]:
    rows = await conn.fetch(
        "SELECT notification_id, template, context, created_at FROM notifications WHERE notification_id = ANY($1)",
        ids)
    return {r["notification_id"]: Item(r["template"], r["context"], r["created_at"]) for r in rows}


async def record_outcomes(conn: asyncpg.Connection, outcomes: Sequence[tuple[asyncpg.Record, str, str | None,
                                                                             datetime | None]],
                          now: datetime) -> None:
    """(message, status, error, retry at) per claimed message; status sent, failed, suppressed or
    pending (retry). The message's notifications follow its final status."""
    await conn.execute(
        """UPDATE email_messages m SET status = x.status, last_error = x.error,
             due_at = coalesce(x.retry_at, m.due_at), sent_at = CASE WHEN x.status = 'sent' THEN $5::timestamptz END
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS x(id, status, error, retry_at)
           WHERE m.message_id = x.id""",
        [o[0]["message_id"] for o in outcomes], [o[1] for o in outcomes], [o[2] for o in outcomes],
        [o[3] for o in outcomes], now)
    final = [(n, o[1]) for o in outcomes if o[1] != "pending" for n in o[0]["notification_ids"]]
    if final:
        await conn.execute(
            """UPDATE notifications n SET status = x.status FROM unnest($1::uuid[], $2::text[]) AS x(id, status)
               WHERE n.notification_id = x.id""", [f[0] for f in final], [f[1] for f in final])


async def recipient_locale(conn: asyncpg.Connection, message_id: uuid.UUID) -> str | None:
    """The locale of the customer an email went to ('' if their contact is gone), None for no such email."""
    row = await conn.fetchrow(
        """SELECT coalesce(c.locale, '') AS locale FROM email_messages m
           LEFT JOIN contacts c ON c.tenant_id = m.tenant_id AND c.customer_id = m.recipient_id
           WHERE m.message_id = $1""", message_id)
    return row["locale"] if row else None


async def unsubscribe(conn: asyncpg.Connection, message_id: uuid.UUID, now: datetime) -> None:
    """Opts the recipient of the email out of all further email; repeating it keeps the first time."""
    await conn.execute(
        """UPDATE contacts c SET unsubscribed_at = coalesce(c.unsubscribed_at, $2) FROM email_messages m
           WHERE m.message_id = $1 AND c.tenant_id = m.tenant_id AND c.customer_id = m.recipient_id""",
        message_id, now)
