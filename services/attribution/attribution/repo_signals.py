"""attribution's SQL for the evidence a batch of referrals is judged on: first clicks, click counts
for flooding, the referrers' own devices, orders already attributed. One query per concern per
batch; every lookup is an index range scan bounded by a LIMIT, so its cost does not grow with history."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from attribution.fraud import Click
from attribution.repo import CLICK_COLUMNS, click_of


async def first_clicks(conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str, datetime, datetime]]
                       ) -> list[Click | None]:
    """For each (tenant, visitor, campaign, from, to): the visitor's earliest click of that campaign
    in the range, or None."""
    if not keys:
        return []
    rows = await conn.fetch(
        f"""SELECT k.i, {CLICK_COLUMNS}
            FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[])
                 WITH ORDINALITY AS k(t, v, camp, lo, hi, i)
            CROSS JOIN LATERAL (
                SELECT * FROM clicks c WHERE c.tenant_id = k.t AND c.visitor_id = k.v
                  AND c.clicked_at >= k.lo AND c.clicked_at <= k.hi AND c.campaign_id = k.camp
                ORDER BY c.clicked_at LIMIT 1) c""",
        *[list(c) for c in zip(*keys)])
    found = {r["i"]: click_of(r) for r in rows}
    return [found.get(i + 1) for i in range(len(keys))]


async def click_counts(conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str, datetime, datetime, int, int]]
                       ) -> list[tuple[int, int]]:
    """For each (tenant, visitor, ip hash, from, to, visitor cap, ip cap): how many stored clicks
    came from that visitor and from that IP in (from, to], each counted only up to its cap."""
    if not keys:
        return []
    rows = await conn.fetch(
        """SELECT k.i,
                  (SELECT count(*) FROM (SELECT 1 FROM clicks c WHERE c.tenant_id = k.t AND c.visitor_id = k.v
                       AND c.clicked_at > k.lo AND c.clicked_at <= k.hi LIMIT k.vcap) x) AS by_visitor,
                  (SELECT count(*) FROM (SELECT 1 FROM clicks c WHERE c.tenant_id = k.t AND c.ip_hash = k.ip
                       AND c.clicked_at > k.lo AND c.clicked_at <= k.hi LIMIT k.ipcap) y) AS by_ip
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::int[], $7::int[])
                WITH ORDINALITY AS k(t, v, ip, lo, hi, vcap, ipcap, i)""",
        *[list(c) for c in zip(*keys)])
    counts = {r["i"]: (r["by_visitor"], r["by_ip"]) for r in rows}
    return [counts[i + 1] for i in range(len(keys))]


async def devices_matching(conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str, str]]
                           ) -> dict[tuple[str, str], set[tuple[str, str]]]:
    """For each (tenant, referrer, visitor id, ip hash): the referrer's own devices that share the
    visitor id or the IP hash."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT DISTINCT d.tenant_id, d.customer_id, d.visitor_id, d.ip_hash FROM customer_devices d
           JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(t, c, v, ip)
             ON d.tenant_id = k.t AND d.customer_id = k.c AND (d.visitor_id = k.v OR d.ip_hash = k.ip)""",
        *[list(c) for c in zip(*keys)])
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for r in rows:
        found.setdefault((r["tenant_id"], r["customer_id"]), set()).add((r["visitor_id"], r["ip_hash"]))
    return found


async def attributed_orders(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
                            ) -> dict[tuple[str, str], uuid.UUID]:
    """The conversion each of these (tenant, order id) was already attributed under."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT o.tenant_id, o.order_id, o.conversion_id FROM attributed_orders o
           JOIN unnest($1::text[], $2::text[]) AS k(t, id) ON o.tenant_id = k.t AND o.order_id = k.id""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["order_id"]): r["conversion_id"] for r in rows}
