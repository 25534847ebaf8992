"""SQL of webhooks: endpoints, deliveries written by the consumer, claims by the delivery loop,
recorded attempts, and what the tenant API reads."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson

from kaskade_platform.texts import packed

ENDPOINT_COLUMNS = "endpoint_id, url, event_types, description, status, disabled_reason, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class NewDelivery:
    tenant_id: str
    event_id: uuid.UUID
    event_type: str
    subject_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    tenant_id: str
    attempt: int
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: str  # delivered | pending | failed
    retry_at: datetime | None
    disable: str | None


async def subscriptions(conn: asyncpg.Connection, tenants: set[str]) -> set[tuple[str, str]]:
    """(tenant, webhook event type) for each type an active endpoint of these tenants subscribed to."""
    rows = await conn.fetch(
        """SELECT DISTINCT e.tenant_id, t.type FROM webhook_endpoints e CROSS JOIN unnest(e.event_types) AS t(type)
           WHERE e.tenant_id = ANY($1::text[]) AND e.status = 'active'""", list(tenants))
    return {(r["tenant_id"], r["type"]) for r in rows}


async def add_deliveries(conn: asyncpg.Connection, items: Sequence[NewDelivery]) -> None:
    """One delivery per event and active endpoint of its tenant that subscribed to its type; a
    replayed event finds its deliveries already there."""
    if items:
        await conn.execute(
            """INSERT INTO webhook_deliveries (delivery_id, tenant_id, endpoint_id, event_id, event_type, subject_id,
                                               payload)
               SELECT gen_random_uuid(), x.t, e.endpoint_id, x.e, x.tp, x.s, x.p
               FROM unnest(unpack_texts($1), $2::uuid[], unpack_texts($3), unpack_texts($4),
                           unpack_texts($5)::jsonb[]) AS x(t, e, tp, s, p)
               JOIN webhook_endpoints e ON e.tenant_id = x.t AND e.status = 'active' AND x.tp = ANY(e.event_types)
               ON CONFLICT (endpoint_id, event_id) DO NOTHING""",
            packed([i.tenant_id for i in items]), [i.event_id for i in items], packed([i.event_type for i in items]),
            packed([i.subject_id for i in items]), packed([orjson.dumps(i.payload).decode() for i in items]))


async def claim(conn: asyncpg.Connection, *, now: datetime, lease: timedelta, limit: int, per_endpoint: int,
                per_tenant: int, endpoint_busy: dict[uuid.UUID, int], tenant_busy: dict[str, int]) -> list[asyncpg.Record]:
    """Due deliveries, oldest first, at most `per_endpoint` in flight per endpoint and `per_tenant`
    per tenant (counting what this process already has in flight), leased for `lease`: a
    delivery whose outcome is not recorded by then is attempted again, with the same webhook-id."""
    return await conn.fetch(
        """WITH eb AS (SELECT * FROM unnest($5::uuid[], $6::int[]) AS b(endpoint_id, busy)),
                tb AS (SELECT * FROM unnest($7::text[], $8::int[]) AS b(tenant_id, busy)),
                c AS (
                  SELECT d.delivery_id, d.due_at, e.url, e.secret, e.failing_since,
                         row_number() OVER (PARTITION BY e.tenant_id ORDER BY d.due_at) + coalesce(tb.busy, 0) AS n
                  FROM webhook_endpoints e
                  LEFT JOIN eb ON eb.endpoint_id = e.endpoint_id
                  LEFT JOIN tb ON tb.tenant_id = e.tenant_id
                  CROSS JOIN LATERAL (
                    SELECT delivery_id, due_at FROM webhook_deliveries d
                    WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending' AND d.due_at <= $1
                    ORDER BY d.due_at LIMIT greatest(0, $3 - coalesce(eb.busy, 0))
                    FOR UPDATE OF d SKIP LOCKED) d
                  WHERE e.status = 'active'),
                pick AS (SELECT * FROM c WHERE n <= $4 ORDER BY due_at LIMIT $9)
           UPDATE webhook_deliveries d SET attempts = d.attempts + 1, due_at = $1::timestamptz + $2::interval
           FROM pick WHERE d.delivery_id = pick.delivery_id
           RETURNING d.delivery_id, d.endpoint_id, d.tenant_id, d.payload, d.attempts, d.round_start, pick.url,
                     pick.secret, pick.failing_since""",
        now, lease, per_endpoint, per_tenant, list(endpoint_busy), list(endpoint_busy.values()),
        list(tenant_busy), list(tenant_busy.values()), limit)


async def release(conn: asyncpg.Connection, delivery_ids: Sequence[uuid.UUID]) -> None:
    """Hands back claimed deliveries that were never attempted: due now, the claim not counted."""
    await conn.execute("""UPDATE webhook_deliveries SET due_at = now(), attempts = attempts - 1
                          WHERE delivery_id = ANY($1::uuid[]) AND status = 'pending'""", delivery_ids)


async def record(conn: asyncpg.Connection, attempts: Sequence[Attempt]) -> list[asyncpg.Record]:
    """Attempts, the deliveries' new state, and the endpoints' failing streaks; returns the
    endpoints disabled now (a notice is recorded for each)."""
    if not attempts:
        return []
    await conn.execute(
        # The join skips deliveries deleted (with their endpoint) while they were being attempted;
        # the lock keeps one from being deleted between the join and the insert.
        """INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, duration_ms, status_code, error)
           SELECT x.* FROM unnest($1::uuid[], $2::int[], $3::timestamptz[], $4::int[], $5::int[], $6::text[])
                AS x(id, n, at, ms, code, error)
           JOIN webhook_deliveries d ON d.delivery_id = x.id
           FOR KEY SHARE OF d
           ON CONFLICT DO NOTHING""",
        [a.delivery_id for a in attempts], [a.attempt for a in attempts], [a.attempted_at for a in attempts],
        [a.duration_ms for a in attempts], [a.status_code for a in attempts], [a.error for a in attempts])
    await conn.execute(
        """UPDATE webhook_deliveries d SET status = x.outcome, due_at = coalesce(x.retry_at, d.due_at),
             last_status = x.code, last_error = x.error,
             delivered_at = CASE WHEN x.outcome = 'delivered' THEN x.at ELSE d.delivered_at END
           FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::text[], $6::timestamptz[])
                AS x(id, outcome, retry_at, code, error, at)
           WHERE d.delivery_id = x.id""",
        [a.delivery_id for a in attempts], [a.outcome for a in attempts], [a.retry_at for a in attempts],
        [a.status_code for a in attempts], [a.error for a in attempts], [a.attempted_at for a in attempts])
    streaks: dict[uuid.UUID, datetime | None] = {}  # the endpoint's latest state: None when it last succeeded
    for a in sorted(attempts, key=lambda a: a.attempted_at):
        ok = a.outcome == "delivered"
        streaks[a.endpoint_id] = None if ok else (streaks.get(a.endpoint_id) or a.attempted_at)
    await conn.execute(
        """UPDATE webhook_endpoints e
           SET failing_since = CASE WHEN x.since IS NULL THEN NULL ELSE coalesce(e.failing_since, x.since) END
           FROM unnest($1::uuid[], $2::timestamptz[]) AS x(id, since)
           WHERE e.endpoint_id = x.id AND (x.since IS NULL) <> (e.failing_since IS NULL)""",
        list(streaks), list(streaks.values()))
    disable = {a.endpoint_id: a.disable for a in attempts if a.disable}
    if not disable:
        return []
    return await conn.fetch(
        """WITH off AS (
             UPDATE webhook_endpoints e SET status = 'disabled', disabled_reason = x.why, updated_at = now()
             FROM unnest($1::uuid[], $2::text[]) AS x(id, why) WHERE e.endpoint_id = x.id AND e.status = 'active'
             RETURNING e.tenant_id, e.endpoint_id, e.url, x.why),
           noted AS (
             INSERT INTO webhook_notices (tenant_id, endpoint_id, kind, detail)
             SELECT tenant_id, endpoint_id, 'endpoint_disabled', 'Webhook endpoint ' || url || ' was disabled: ' || why
             FROM off)
           SELECT tenant_id, endpoint_id, url, why AS reason,
                  'Webhook endpoint ' || url || ' was disabled: ' || why AS detail FROM off""",
        list(disable), list(disable.values()))


async def create_endpoint(conn: asyncpg.Connection, endpoint_id: uuid.UUID, tenant_id: str, url: str,
                          event_types: Sequence[str], description: str, sealed_secret: str) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""INSERT INTO webhook_endpoints (endpoint_id, tenant_id, url, event_types, description, secret)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {ENDPOINT_COLUMNS}""",
        endpoint_id, tenant_id, url, list(event_types), description, sealed_secret)


async def not_sealed_under(conn: asyncpg.Connection, prefix: str, limit: int) -> list[asyncpg.Record]:
    """Endpoints whose secret is in clear or sealed under another key than `prefix` names."""
    return await conn.fetch("SELECT endpoint_id, secret FROM webhook_endpoints WHERE NOT starts_with(secret, $1) "
                            "ORDER BY endpoint_id LIMIT $2", prefix, limit)


async def replace_secret(conn: asyncpg.Connection, endpoint_id: uuid.UUID, old: str, new: str) -> None:
    """Only if the row still holds `old`: a concurrent reseal by another instance wins, nothing is lost."""
    await conn.execute("UPDATE webhook_endpoints SET secret = $3 WHERE endpoint_id = $1 AND secret = $2",
                       endpoint_id, old, new)


async def endpoints(conn: asyncpg.Connection, tenant_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(f"""SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE tenant_id = $1
                                ORDER BY created_at, endpoint_id""", tenant_id)


async def endpoint(conn: asyncpg.Connection, tenant_id: str, endpoint_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"""SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints
                                   WHERE tenant_id = $1 AND endpoint_id = $2""", tenant_id, endpoint_id)


async def update_endpoint(conn: asyncpg.Connection, tenant_id: str, endpoint_id: uuid.UUID, *, url: str | None,
                          event_types: Sequence[str] | None, description: str | None,
                          enabled: bool | None) -> asyncpg.Record | None:
    """Changes what is given; enabling clears the disabled reason and the failing streak."""
    return await conn.fetchrow(
        f"""UPDATE webhook_endpoints SET url = coalesce($3, url), event_types = coalesce($4, event_types),
              description = coalesce($5, description),
              status = CASE WHEN $6::bool IS NULL THEN status WHEN $6 THEN 'active' ELSE 'disabled' END,
              disabled_reason = CASE WHEN $6::bool IS NULL THEN disabled_reason WHEN $6 THEN NULL
                                     ELSE 'disabled by the tenant' END,
              failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END, updated_at = now()
            WHERE tenant_id = $1 AND endpoint_id = $2 RETURNING {ENDPOINT_COLUMNS}""",
        tenant_id, endpoint_id, url, list(event_types) if event_types is not None else None, description, enabled)


async def delete_endpoint(conn: asyncpg.Connection, tenant_id: str, endpoint_id: uuid.UUID) -> bool:
    """Deliveries first, then the endpoint: the order in which recording attempts locks them, so the
    two rarely deadlock (the caller retries when they do)."""
    async with conn.transaction():
        await conn.execute("DELETE FROM webhook_deliveries WHERE tenant_id = $1 AND endpoint_id = $2",
                           tenant_id, endpoint_id)
        return await conn.fetchval("""DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND endpoint_id = $2
                                      RETURNING true""", tenant_id, endpoint_id) or False


DELIVERY_COLUMNS = """delivery_id, endpoint_id, event_id, event_type, status, attempts, due_at, last_status,
                      last_error, created_at, delivered_at"""


async def deliveries(conn: asyncpg.Connection, tenant_id: str, *, endpoint_id: uuid.UUID | None,
                     status: str | None, before: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    """Newest first; `before` is the (created_at, delivery_id) of the last row of the previous page."""
    return await conn.fetch(
        f"""SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
            WHERE tenant_id = $1 AND ($2::uuid IS NULL OR endpoint_id = $2) AND ($3::text IS NULL OR status = $3)
              AND ($4::timestamptz IS NULL OR (created_at, delivery_id) < ($4, $5::uuid))
            ORDER BY created_at DESC, delivery_id DESC LIMIT $6""",
        tenant_id, endpoint_id, status, before[0] if before else None, before[1] if before else None, limit)


async def delivery(conn: asyncpg.Connection, tenant_id: str, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"""SELECT {DELIVERY_COLUMNS}, payload FROM webhook_deliveries
                                   WHERE tenant_id = $1 AND delivery_id = $2""", tenant_id, delivery_id)


async def attempts(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch("""SELECT attempt, attempted_at, duration_ms, status_code, error FROM webhook_attempts
                               WHERE delivery_id = $1 ORDER BY attempt""", delivery_id)


async def redeliver(conn: asyncpg.Connection, tenant_id: str, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Sends the delivery again (same webhook-id), with a fresh round of attempts. A delivery
    still being attempted is left alone."""
    return await conn.fetchval(
        """UPDATE webhook_deliveries SET status = 'pending', due_at = $3, round_start = attempts
           WHERE tenant_id = $1 AND delivery_id = $2 AND status <> 'pending' RETURNING true""",
        tenant_id, delivery_id, now) or False


async def notices(conn: asyncpg.Connection, tenant_id: str, limit: int = 100) -> list[asyncpg.Record]:
    return await conn.fetch("""SELECT notice_id, endpoint_id, kind, detail, created_at FROM webhook_notices
                               WHERE tenant_id = $1 ORDER BY notice_id DESC LIMIT $2""", tenant_id, limit)


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> None:
    """Erasure: a payload already delivered is dropped (the tenant has it; we need no copy); one
    still to be delivered names the replacement id instead, like every other service's data."""
    await conn.execute(
        """UPDATE webhook_deliveries SET subject_id = $3,
             payload = CASE WHEN status = 'pending'  -- every JSON string that is exactly the id
                            THEN replace(payload::text, to_jsonb($2::text)::text, to_jsonb($3::text)::text)::jsonb
                            ELSE jsonb_build_object('type', payload->'type', 'timestamp', payload->'timestamp',
                                                    'data', jsonb_build_object('erased', true)) END
           WHERE tenant_id = $1 AND subject_id = $2""", tenant_id, customer_id, replacement_id)
