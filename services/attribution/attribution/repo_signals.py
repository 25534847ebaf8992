"""attribution's SQL for the evidence a batch of referrals is judged on: first clicks, then in one
round trip click counts for flooding, the referrers' own devices, orders already attributed, and
whether the customer has a conversion held. Every lookup is an index scan bounded by a key or a
LIMIT, so its cost does not grow with history."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from attribution.fraud import Click
from attribution.repo import CLICK_COLUMNS, click_of
from kaskade_platform.texts import columns, packed, packed_ints


async def first_clicks(conn: asyncpg.Connection, keys: Sequence[tuple[str, str, str, datetime, datetime]]
                       ) -> list[Click | None]:
    """For each (tenant, visitor, campaign, from, to): the visitor's earliest click of that campaign
    in the range, or None."""
    if not keys:
        return []
    rows = await conn.fetch(
        f"""SELECT k.i, {CLICK_COLUMNS}
            FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), $4::timestamptz[], $5::timestamptz[])
                 WITH ORDINALITY AS k(t, v, camp, lo, hi, i)
            CROSS JOIN LATERAL (
                SELECT * FROM clicks c WHERE c.tenant_id = k.t AND c.visitor_id = k.v
                  AND c.clicked_at >= k.lo AND c.clicked_at <= k.hi AND c.campaign_id = k.camp
                ORDER BY c.clicked_at LIMIT 1) c""",
        *columns(keys, 5, texts=(0, 1, 2)))
    found = {r["i"]: click_of(r) for r in rows}
    return [found.get(i + 1) for i in range(len(keys))]


class Probe(NamedTuple):
    """What to ask about one conversion. The click fields are None when it came with no usable click,
    `referrer` None when it has no link to judge (a bound customer, or none yet)."""
    tenant_id: str
    customer_id: str
    order_id: str | None
    referrer: str | None = None
    visitor_id: str | None = None
    ip_hash: str | None = None
    until: datetime | None = None  # the flood window: the `window` seconds up to `until`
    window: int = 0
    visitor_cap: int = 0  # clicks are counted up to the cap only: a flood costs no more than its limit
    ip_cap: int = 0


class Answer(NamedTuple):
    clicks_by_visitor: int
    clicks_by_ip: int
    referrer_visitor: bool
    referrer_ip: bool
    order_attributed_to: uuid.UUID | None
    customer_held: bool  # the customer has a conversion held from before


NOTHING_FOUND = Answer(0, 0, False, False, None, False)


async def probe(conn: asyncpg.Connection, probes: Sequence[Probe]) -> list[Answer]:
    """The fraud signals and the customer's queue for a whole batch, in one round trip."""
    if not probes:
        return []
    cols: list[Any] = [list(c) for c in zip(*probes)]
    cols[:6] = [packed(c) for c in cols[:6]]  # the text fields come first
    cols[7:] = [packed_ints(c) for c in cols[7:]]  # and the integers last
    # Only the conversions something was found about come back (most find nothing): `OFFSET 0`
    # keeps the lookups in the inner query, each evaluated once, not again in the outer filter.
    rows = await conn.fetch(
        """SELECT * FROM (SELECT k.i,
              CASE WHEN k.v IS NULL THEN 0 ELSE (SELECT count(*) FROM (
                  SELECT 1 FROM clicks c WHERE c.tenant_id = k.t AND c.visitor_id = k.v
                    AND c.clicked_at > k.hi - make_interval(secs => k.win) AND c.clicked_at <= k.hi
                  LIMIT k.vcap) x) END AS by_visitor,
              CASE WHEN k.ip IS NULL THEN 0 ELSE (SELECT count(*) FROM (
                  SELECT 1 FROM clicks c WHERE c.tenant_id = k.t AND c.ip_hash = k.ip
                    AND c.clicked_at > k.hi - make_interval(secs => k.win) AND c.clicked_at <= k.hi
                  LIMIT k.ipcap) y) END AS by_ip,
              -- The referrer's devices in one index range: 1 when one has the visitor, 2 the IP, 3 both.
              coalesce((SELECT bit_or(CASE WHEN d.visitor_id = k.v THEN 1 ELSE 0 END
                                      | CASE WHEN d.ip_hash = k.ip THEN 2 ELSE 0 END)
                        FROM customer_devices d WHERE d.tenant_id = k.t AND d.customer_id = k.referrer), 0)
                  AS referrer_device,
              (SELECT o.conversion_id FROM conversion_outcomes o WHERE o.tenant_id = k.t AND o.order_id = k.ord
                  AND o.outcome = 'attributed' ORDER BY o.decided_at, o.conversion_id LIMIT 1) AS order_owner,
              EXISTS (SELECT 1 FROM held_conversions h WHERE h.tenant_id = k.t AND h.customer_id = k.c) AS held
           FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), unpack_texts($4), unpack_texts($5),
                       unpack_texts($6), $7::timestamptz[], string_to_array($8, ',', 'n')::int[],
                       string_to_array($9, ',', 'n')::int[], string_to_array($10, ',', 'n')::int[])
                WITH ORDINALITY AS k(t, c, ord, referrer, v, ip, hi, win, vcap, ipcap, i) OFFSET 0) a
           WHERE by_visitor > 0 OR by_ip > 0 OR referrer_device > 0 OR order_owner IS NOT NULL OR held""",
        *cols)
    by_i = {r["i"]: Answer(r["by_visitor"], r["by_ip"], bool(r["referrer_device"] & 1), bool(r["referrer_device"] & 2),
                           r["order_owner"], r["held"]) for r in rows}
    return [by_i.get(i, NOTHING_FOUND) for i in range(1, len(probes) + 1)]
