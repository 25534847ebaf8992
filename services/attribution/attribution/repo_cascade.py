"""attribution's SQL for what it decided: outcomes, the cascade (bindings), and what the fraud rules
remember (devices, attributed orders, rejections for review). Every function takes a whole batch."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg
import orjson

from attribution.domain import Binding
from attribution.reversal import Attributed

# Re-parenting moves a whole subtree up one level per round; a cascade is rarely deeper than this
# many newly joined generations in one batch, and a later batch finishes what is left.
REPARENT_ROUNDS = 32


async def bindings_for(conn: asyncpg.Connection,
                       keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Binding]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT b.* FROM bindings b
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON b.tenant_id = k.t AND b.referee_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["referee_id"]): Binding(
        r["referee_id"], r["referrer_id"], r["root_seeder_id"], r["generation"], r["conversion_id"],
        r["parent_conversion_id"], tuple(r["upline"]), r["campaign_id"]) for r in rows}


async def insert_bindings(conn: asyncpg.Connection, rows: Sequence[tuple[str, Binding, datetime]]) -> None:
    if not rows:
        return
    # asyncpg cannot pass an array of arrays of different lengths: each upline travels as JSON.
    await conn.execute(
        """INSERT INTO bindings (tenant_id, referee_id, referrer_id, root_seeder_id, generation, conversion_id,
                                 parent_conversion_id, upline, campaign_id, bound_at)
           SELECT t, referee, referrer, root, gen, conv, parent,
                  ARRAY(SELECT jsonb_array_elements_text(up::jsonb)), campaign, at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::uuid[], $7::uuid[],
                       $8::text[], $9::text[], $10::timestamptz[])
                AS n(t, referee, referrer, root, gen, conv, parent, up, campaign, at)
           ON CONFLICT DO NOTHING""",
        [t for t, _, _ in rows], [b.referee_id for _, b, _ in rows], [b.referrer_id for _, b, _ in rows],
        [b.root_seeder_id for _, b, _ in rows], [b.generation for _, b, _ in rows],
        [b.conversion_id for _, b, _ in rows], [b.parent_conversion_id for _, b, _ in rows],
        [orjson.dumps(list(b.upline)).decode() for _, b, _ in rows], [b.campaign_id for _, b, _ in rows],
        [at for _, _, at in rows])


async def reparent(conn: asyncpg.Connection, referees: Sequence[tuple[str, str]]) -> int:
    """Hang the subtrees of customers who were seeders, and have just been referred themselves,
    under their new referrer: a referee's own referrals may be decided before the referee's
    conversion arrives (another partition), and the cascade must not depend on that order.
    Returns how many bindings moved."""
    moved, roots = 0, list(referees)
    for _ in range(REPARENT_ROUNDS):
        if not roots:
            break
        # A seeder's subtree is exactly the bindings whose root is that seeder (indexed).
        rows = await conn.fetch(
            """UPDATE bindings d SET root_seeder_id = b.root_seeder_id, generation = d.generation + b.generation,
                      upline = b.upline || d.upline,
                      parent_conversion_id = CASE WHEN d.referrer_id = b.referee_id THEN b.conversion_id
                                                  ELSE d.parent_conversion_id END
               FROM unnest($1::text[], $2::text[]) AS n(t, seeder)
               JOIN bindings b ON b.tenant_id = n.t AND b.referee_id = n.seeder
               WHERE d.tenant_id = n.t AND d.root_seeder_id = n.seeder
               RETURNING d.tenant_id, b.root_seeder_id""",
            [t for t, _ in roots], [c for _, c in roots])
        moved += len(rows)
        # A subtree moved under a seeder who was re-parented in the same batch moves again.
        roots = list({(r["tenant_id"], r["root_seeder_id"]) for r in rows} & set(referees))
    return moved


Outcome = tuple[str, uuid.UUID, str, str, str, str | None, int | None, str | None, int, str, str | None]


async def insert_outcomes(conn: asyncpg.Connection, rows: Sequence[Outcome]) -> set[tuple[str, uuid.UUID]]:
    """Record each conversion's outcome once; returns the conversions that had none yet."""
    cols = list(zip(*rows)) if rows else [[] for _ in range(11)]
    recorded = await conn.fetch(
        """INSERT INTO conversion_outcomes (tenant_id, conversion_id, campaign_id, customer_id, outcome,
                                           referrer_id, generation, reason, amount_minor, currency, order_id)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::int[], $8::text[], $9::bigint[], $10::text[], $11::text[])
           ON CONFLICT DO NOTHING RETURNING tenant_id, conversion_id""", *[list(c) for c in cols])
    return {(r["tenant_id"], r["conversion_id"]) for r in recorded}


async def outcomes_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, uuid.UUID]]
                       ) -> dict[tuple[str, uuid.UUID], Attributed | None]:
    """Decided conversions: what was attributed, or None for unattributed and rejected ones."""
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT o.tenant_id, o.conversion_id, o.outcome, o.campaign_id, o.customer_id, o.referrer_id,
                  o.amount_minor, o.currency FROM conversion_outcomes o
           JOIN unnest($1::text[], $2::uuid[]) AS k(t, id) ON o.tenant_id = k.t AND o.conversion_id = k.id""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["conversion_id"]): Attributed(
        r["campaign_id"], r["customer_id"], r["referrer_id"], r["amount_minor"] or 0, r["currency"] or "EUR")
        if r["outcome"] == "attributed" else None for r in rows}


async def insert_devices(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, str, str]]) -> None:
    """(tenant, customer, visitor id, ip hash) a customer converted from."""
    if rows:
        await conn.execute(
            """INSERT INTO customer_devices (tenant_id, customer_id, visitor_id, ip_hash)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING""",
            *[list(c) for c in zip(*rows)])


async def insert_orders(conn: asyncpg.Connection, rows: Sequence[tuple[str, str, uuid.UUID]]) -> None:
    if rows:
        await conn.execute(
            """INSERT INTO attributed_orders (tenant_id, order_id, conversion_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) ON CONFLICT DO NOTHING""",
            *[list(c) for c in zip(*rows)])


async def insert_rejections(conn: asyncpg.Connection,
                            rows: Sequence[tuple[str, uuid.UUID, str, str, str, str, str, datetime]]) -> None:
    if rows:
        await conn.execute(
            """INSERT INTO rejections (tenant_id, conversion_id, campaign_id, referee_id, referrer_id, reason, detail,
                                       rejected_at)
               SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                                    $7::text[], $8::timestamptz[]) ON CONFLICT DO NOTHING""",
            *[list(c) for c in zip(*rows)])
