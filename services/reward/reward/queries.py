"""The tenant API's reads: a customer's rewards and balances, a campaign's budget. Every query
names the tenant and is served by an index."""
from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

Position = tuple[datetime, uuid.UUID]  # created_at, reward_id of the last reward on the previous page


async def customer_rewards(conn: asyncpg.Connection, tenant_id: str, customer_id: str, after: Position | None,
                           limit: int) -> list[asyncpg.Record]:
    """Newest first."""
    return await conn.fetch(
        """SELECT reward_id, campaign_id, conversion_id, share_id, rule_id, role, kind, amount_minor, revoked_minor,
                  currency, status, decline_reason, discount_code, hold_until, confirmed_at, created_at
           FROM rewards WHERE tenant_id = $1 AND recipient_id = $2
             AND ($3::timestamptz IS NULL OR (created_at, reward_id) < ($3, $4::uuid))
           ORDER BY created_at DESC, reward_id DESC LIMIT $5""",
        tenant_id, customer_id, after[0] if after else None, after[1] if after else None, limit)


async def customer_balances(conn: asyncpg.Connection, tenant_id: str, customer_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT currency, coalesce(sum(balance) FILTER (WHERE kind = 'customer_pending'), 0) AS pending_minor,
                  coalesce(sum(balance) FILTER (WHERE kind = 'customer_confirmed'), 0) AS confirmed_minor
           FROM accounts WHERE tenant_id = $1 AND kind IN ('customer_pending', 'customer_confirmed') AND owner_id = $2
           GROUP BY currency ORDER BY currency""", tenant_id, customer_id)


async def campaign_budget(conn: asyncpg.Connection, tenant_id: str, campaign_id: str) -> list[asyncpg.Record]:
    """Per currency: funded, what was granted, what of it is pending, confirmed and revoked, and what
    remains. granted - revoked = pending + confirmed = funded - remaining."""
    return await conn.fetch(
        """SELECT b.currency, -f.balance AS budget_minor, b.balance AS remaining_minor,
                  coalesce(t.granted, 0) AS granted_minor, coalesce(t.pending, 0) AS pending_minor,
                  coalesce(t.confirmed, 0) AS confirmed_minor, coalesce(t.revoked, 0) AS revoked_minor
           FROM accounts b
           JOIN accounts f ON f.tenant_id = b.tenant_id AND f.kind = 'funding' AND f.owner_id = b.owner_id
             AND f.currency = b.currency
           LEFT JOIN LATERAL (
             SELECT sum(amount_minor) AS granted, sum(revoked_minor) AS revoked,
                    sum(amount_minor - revoked_minor) FILTER (WHERE status = 'pending') AS pending,
                    sum(amount_minor - revoked_minor) FILTER (WHERE status = 'confirmed') AS confirmed
             FROM rewards r WHERE r.tenant_id = b.tenant_id AND r.campaign_id = b.owner_id
               AND r.currency = b.currency AND r.tx_id IS NOT NULL) t ON true
           WHERE b.tenant_id = $1 AND b.kind = 'campaign_budget' AND b.owner_id = $2
           ORDER BY b.currency""", tenant_id, campaign_id)
