"""Read-only queries for the tenant API: a seeder's or a campaign's tree, paged by (generation,
referee) and cut at a depth, a customer's upline, and the referrals refused for fraud. Every query is scoped to one
tenant and walks an index in order, so a page costs the same however large the tree."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import asyncpg

NODE_COLUMNS = """referee_id, referrer_id, root_seeder_id, generation, campaign_id, conversion_id,
                  parent_conversion_id, bound_at"""
Position = tuple[int, str]  # (generation, referee id) of a page's last node


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a customer stands: their root seeder and generation (0 for a seeder)."""
    root_seeder_id: str
    generation: int


async def anchor(conn: asyncpg.Connection, tenant_id: str, customer_id: str) -> Anchor:
    row = await conn.fetchrow("SELECT root_seeder_id, generation FROM bindings WHERE tenant_id = $1 "
                              "AND referee_id = $2", tenant_id, customer_id)
    return Anchor(row["root_seeder_id"], row["generation"]) if row else Anchor(customer_id, 0)


async def subtree(conn: asyncpg.Connection, tenant_id: str, customer_id: str, at: Anchor, depth: int,
                  after: Position | None, limit: int) -> list[asyncpg.Record]:
    """The customer's referees, theirs, and so on, down to `depth` generations below the customer.
    A descendant's upline holds the customer at the customer's own position (1-based generation + 1)."""
    gen, ref = after if after else (at.generation, "")
    return await conn.fetch(
        f"""SELECT {NODE_COLUMNS} FROM bindings
            WHERE tenant_id = $1 AND root_seeder_id = $2 AND generation <= $3
              AND (generation, referee_id) > ($4, $5)
              AND ($6 = 0 OR upline[$6 + 1] = $7)
            ORDER BY generation, referee_id LIMIT $8""",
        tenant_id, at.root_seeder_id, at.generation + depth, gen, ref, at.generation, customer_id, limit)


async def campaign_tree(conn: asyncpg.Connection, tenant_id: str, campaign_id: str, depth: int,
                        after: Position | None, limit: int) -> list[asyncpg.Record]:
    gen, ref = after if after else (0, "")
    return await conn.fetch(
        f"""SELECT {NODE_COLUMNS} FROM bindings
            WHERE tenant_id = $1 AND campaign_id = $2 AND generation <= $3 AND (generation, referee_id) > ($4, $5)
            ORDER BY generation, referee_id LIMIT $6""",
        tenant_id, campaign_id, depth, gen, ref, limit)


async def binding(conn: asyncpg.Connection, tenant_id: str, customer_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {NODE_COLUMNS}, upline FROM bindings WHERE tenant_id = $1 AND referee_id = $2",
                               tenant_id, customer_id)


async def rejections(conn: asyncpg.Connection, tenant_id: str, after: tuple[datetime, uuid.UUID] | None,
                     limit: int) -> list[asyncpg.Record]:
    """Refused referrals kept for review, newest first."""
    at, cid = after if after else (datetime.max.replace(tzinfo=timezone.utc), uuid.UUID(int=(1 << 128) - 1))
    return await conn.fetch(
        """SELECT conversion_id, campaign_id, referee_id, referrer_id, reason, detail, rejected_at FROM rejections
           WHERE tenant_id = $1 AND (rejected_at, conversion_id) < ($2, $3)
           ORDER BY rejected_at DESC, conversion_id DESC LIMIT $4""", tenant_id, at, cid, limit)
