"""reward's SQL outside the ledger: campaigns, rewards, what caps and milestones count, budget
alerts and erasure. Set-based: one statement per batch, never one per event."""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import AttributionReversed, CampaignDefined, CampaignStatus, CampaignTerms
from kaskade_platform.dedupe import latest_by
from kaskade_platform.texts import columns
from reward.domain import Campaign, Candidate

REWARD_COLUMNS = """reward_id, tenant_id, idempotency_key, campaign_id, conversion_id, share_id, rule_id, recipient_id,
                    role, kind, amount_minor, revoked_minor, currency, status, discount_code, hold_until"""


async def upsert_campaigns(conn: asyncpg.Connection, facts: Sequence[Envelope[CampaignDefined]]
                           ) -> list[tuple[str, Campaign]]:
    """Keep each campaign's newest definition; returns (tenant, campaign) for those that changed."""
    facts = latest_by(facts, lambda e: (e.tenant_id, e.payload.campaign_id), lambda e: e.payload.version)
    rows = await conn.fetch(
        """INSERT INTO campaigns (tenant_id, campaign_id, version, status, terms)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::jsonb[])
           ON CONFLICT (tenant_id, campaign_id) DO UPDATE
             SET version = excluded.version, status = excluded.status, terms = excluded.terms
             WHERE campaigns.version < excluded.version
           RETURNING tenant_id, campaign_id, status, terms""",
        [e.tenant_id for e in facts], [e.payload.campaign_id for e in facts], [e.payload.version for e in facts],
        [e.payload.status.value for e in facts], [e.payload.terms.model_dump(mode="json") for e in facts])
    return [(r["tenant_id"], _campaign(r)) for r in rows]


async def campaigns_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Campaign]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.campaign_id, c.status, c.terms FROM campaigns c
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON c.tenant_id = k.t AND c.campaign_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["campaign_id"]): _campaign(r) for r in rows}


def _campaign(r: asyncpg.Record) -> Campaign:
    return Campaign.from_terms(r["campaign_id"], CampaignStatus(r["status"]), CampaignTerms(**r["terms"]))


async def existing_rewards(conn: asyncpg.Connection, reward_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these rewards are already recorded. A reward's id is derived from its tenant and
    idempotency key, so this is the idempotency check."""
    rows = await conn.fetch("SELECT reward_id FROM rewards WHERE reward_id = ANY($1::uuid[])", list(reward_ids))
    return {r["reward_id"] for r in rows}


async def insert_rewards(conn: asyncpg.Connection,
                         rows: Sequence[tuple[Candidate, str, str | None, uuid.UUID | None]],
                         now: datetime | None = None) -> None:
    """(candidate, status, decline reason, ledger tx); `now` stamps those confirmed at once."""
    if not rows:
        return
    cols = [(c.reward_id, c.tenant_id, c.idempotency_key, c.campaign_id, c.conversion_id, c.share_id, c.rule.rule_id,
             c.recipient_id, c.role.value, c.rule.kind.value, c.amount_minor, c.currency, c.generation, status,
             reason, tx_id, c.discount_code, c.earned_at, c.hold_until, now if status == "confirmed" else None)
            for c, status, reason, tx_id in rows]
    await conn.execute(
        """INSERT INTO rewards (reward_id, tenant_id, idempotency_key, campaign_id, conversion_id, share_id, rule_id,
                                recipient_id, role, kind, amount_minor, currency, generation, status, decline_reason,
                                tx_id, discount_code, earned_at, hold_until, confirmed_at)
           SELECT * FROM unnest($1::uuid[], unpack_texts($2), unpack_texts($3), unpack_texts($4), $5::uuid[],
                                $6::uuid[], unpack_texts($7), unpack_texts($8), unpack_texts($9), unpack_texts($10),
                                $11::bigint[], unpack_texts($12), $13::int[], unpack_texts($14), unpack_texts($15),
                                $16::uuid[], unpack_texts($17), $18::timestamptz[], $19::timestamptz[],
                                $20::timestamptz[])""",
        *columns(cols, 20, texts=(1, 2, 3, 6, 7, 8, 9, 11, 13, 14, 16)))


async def granted_since(conn: asyncpg.Connection, keys: dict[tuple[str, str, str, str], datetime]
                        ) -> dict[tuple[str, str, str, str], list[tuple[datetime, int]]]:
    """(earned_at, amount not revoked) granted per (tenant, campaign, rule, recipient) after each
    key's time: what a cap's window counts. A fully revoked reward no longer counts."""
    items = sorted(keys.items())
    rows = await conn.fetch(
        """SELECT r.tenant_id, r.campaign_id, r.rule_id, r.recipient_id, r.earned_at,
                  r.amount_minor - r.revoked_minor AS amount
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS k(t, c, rule, who, since)
           JOIN rewards r ON r.tenant_id = k.t AND r.campaign_id = k.c AND r.rule_id = k.rule
             AND r.recipient_id = k.who AND r.earned_at > k.since AND r.tx_id IS NOT NULL
           WHERE r.status <> 'revoked'""",
        *[[k[i] for k, _ in items] for i in range(4)], [since for _, since in items])
    out: dict[tuple[str, str, str, str], list[tuple[datetime, int]]] = defaultdict(list)
    for r in rows:
        out[(r["tenant_id"], r["campaign_id"], r["rule_id"], r["recipient_id"])].append((r["earned_at"], r["amount"]))
    return out


async def referrals_rewarded(conn: asyncpg.Connection, keys: Iterable[tuple[str, str, str]]
                             ) -> dict[tuple[str, str, str], int]:
    """How many referrals each (tenant, campaign, referrer) has been rewarded for so far."""
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT k.t, k.c, k.who, (SELECT count(*) FROM rewards r WHERE r.tenant_id = k.t AND r.campaign_id = k.c
                                      AND r.rule_id = 'referrer' AND r.recipient_id = k.who
                                      AND r.tx_id IS NOT NULL) AS n
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, who)""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["t"], r["c"], r["who"]): r["n"] for r in rows}


async def lock_conversion_rewards(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                                  ) -> list[asyncpg.Record]:
    """The live rewards of each (tenant, conversion), locked (in id order: no deadlocks)."""
    keys = sorted(set(keys))
    return await conn.fetch(
        f"""SELECT {REWARD_COLUMNS} FROM rewards r JOIN unnest($1::text[], $2::uuid[]) AS k(t, conv)
              ON r.tenant_id = k.t AND r.conversion_id = k.conv
            WHERE r.tx_id IS NOT NULL AND r.status IN ('pending', 'confirmed')
            ORDER BY r.reward_id FOR UPDATE OF r""", [k[0] for k in keys], [k[1] for k in keys])


async def mark_revoked(conn: asyncpg.Connection, revoked: dict[uuid.UUID, int]) -> None:
    await conn.execute(
        """UPDATE rewards r SET revoked_minor = r.revoked_minor + d.amount,
                  status = CASE WHEN r.revoked_minor + d.amount = r.amount_minor THEN 'revoked' ELSE r.status END
           FROM unnest($1::uuid[], $2::bigint[]) AS d(id, amount) WHERE r.reward_id = d.id""",
        list(revoked), list(revoked.values()))


async def lock_due(conn: asyncpg.Connection, now: datetime, limit: int,
                   tenants: Sequence[str] | None = None) -> list[asyncpg.Record]:
    """Pending rewards whose hold has ended, oldest first; rows another instance is confirming
    (or a revocation holds) are skipped, not waited for."""
    if tenants is None:
        return await conn.fetch(
            f"""SELECT {REWARD_COLUMNS} FROM rewards r WHERE status = 'pending' AND hold_until IS NOT NULL
                  AND hold_until <= $1 ORDER BY hold_until LIMIT $2 FOR UPDATE SKIP LOCKED""", now, limit)
    return await conn.fetch(
        f"""SELECT {REWARD_COLUMNS} FROM rewards r WHERE status = 'pending' AND hold_until IS NOT NULL
              AND hold_until <= $1 AND tenant_id = ANY($3::text[]) ORDER BY hold_until LIMIT $2
            FOR UPDATE SKIP LOCKED""", now, limit, list(tenants))


async def mark_confirmed(conn: asyncpg.Connection, reward_ids: Sequence[uuid.UUID], now: datetime) -> None:
    await conn.execute("UPDATE rewards SET status = 'confirmed', confirmed_at = $2 WHERE reward_id = ANY($1::uuid[])",
                       list(reward_ids), now)


async def raise_alerts(conn: asyncpg.Connection, alerts: Sequence[tuple[str, str, str, int, str]]
                       ) -> set[tuple[str, str, str, int, str]]:
    """Record (tenant, campaign, currency, funded, alert); returns those not raised before."""
    if not alerts:
        return set()
    rows = await conn.fetch(
        """INSERT INTO budget_alerts (tenant_id, campaign_id, currency, funded_minor, alert)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) ON CONFLICT DO NOTHING
           RETURNING tenant_id, campaign_id, currency, funded_minor, alert""", *[list(c) for c in zip(*alerts)])
    return {(r["tenant_id"], r["campaign_id"], r["currency"], r["funded_minor"], r["alert"]) for r in rows}


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> None:
    """The ledger keeps every amount; only the recipient's id is replaced."""
    await conn.execute("UPDATE rewards SET recipient_id = $3 WHERE tenant_id = $1 AND recipient_id = $2",
                       tenant_id, customer_id, replacement_id)
    await conn.execute(
        """UPDATE accounts SET owner_id = $3 WHERE tenant_id = $1 AND kind IN ('customer_pending', 'customer_confirmed')
           AND owner_id = $2""", tenant_id, customer_id, replacement_id)


async def record_reversals(conn: asyncpg.Connection, facts: Sequence[Envelope[AttributionReversed]]) -> None:
    """Keep each conversion's furthest refund."""
    best: dict[tuple[str, uuid.UUID], Envelope[AttributionReversed]] = {}
    for e in facts:
        k = (e.tenant_id, e.payload.conversion_id)
        if k not in best or (e.payload.full, e.payload.refunded_total_minor) > (
                best[k].payload.full, best[k].payload.refunded_total_minor):
            best[k] = e
    rows = [(t, conv, e.payload.refund_id, e.payload.kind.value, e.payload.refunded_total_minor,
             e.payload.conversion_amount_minor, e.payload.full) for (t, conv), e in sorted(best.items())]
    await conn.execute(
        """INSERT INTO reversals AS r (tenant_id, conversion_id, refund_id, kind, refunded_total_minor,
                                       conversion_amount_minor, full_refund)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[], $7::bool[])
           ON CONFLICT (tenant_id, conversion_id) DO UPDATE SET
             refund_id = excluded.refund_id, kind = excluded.kind, refunded_total_minor = excluded.refunded_total_minor,
             conversion_amount_minor = excluded.conversion_amount_minor, full_refund = excluded.full_refund
           WHERE (excluded.full_refund, excluded.refunded_total_minor) > (r.full_refund, r.refunded_total_minor)""",
        *[list(c) for c in zip(*rows)])


async def reversals_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]) -> list[asyncpg.Record]:
    keys = sorted(set(keys))
    return await conn.fetch(
        """SELECT r.* FROM reversals r JOIN unnest($1::text[], $2::uuid[]) AS k(t, conv)
             ON r.tenant_id = k.t AND r.conversion_id = k.conv""", [k[0] for k in keys], [k[1] for k in keys])
