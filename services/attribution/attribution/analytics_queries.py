"""The viral analytics figures of one tenant's campaign, aggregated from the read models when asked.

Every query reads an index range of one (tenant, campaign) and joins by primary key. The
definitions of the figures are in attribution.analytics.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import asyncpg

from attribution import analytics


class Dimension(StrEnum):
    channel = "channel"
    variant = "variant"
    segment = "segment"
    generation = "generation"
    day = "day"


# Each dimension as a column of a link `l` joined to its sharer `s`: a fixed list, never user text.
LINK_KEY = {
    None: "'all'",
    Dimension.channel: "l.channel",
    Dimension.variant: "l.message_variant",
    Dimension.segment: "l.sharer_segment",
    Dimension.generation: "coalesce(s.generation, 0)",
    Dimension.day: "l.shared_on",
}
LINKS = """analytics_links l
  LEFT JOIN analytics_customers s ON s.tenant_id = l.tenant_id AND s.campaign_id = l.campaign_id
                                 AND s.customer_id = l.sharer_id"""


def _key(value: Any) -> int | str | None:
    return value.isoformat() if isinstance(value, date) else value


@dataclass(frozen=True, slots=True)
class FunnelStep:
    key: int | str | None
    shares: int
    clicks: int
    signups: int
    purchases: int


async def funnel(conn: asyncpg.Connection, tenant_id: str, campaign_id: str,
                 by: Dimension | None = None) -> list[FunnelStep]:
    """Each referee counts at the link that bound them (split by generation: at their referrer's)."""
    referee_key = "r.generation - 1" if by is Dimension.generation else "l.key"
    rows = await conn.fetch(
        f"""WITH links AS (
              SELECT l.referral_code, l.shared, l.clicks, {LINK_KEY[by]} AS key FROM {LINKS}
              WHERE l.tenant_id = $1 AND l.campaign_id = $2),
            referees AS (
              SELECT r.generation, r.signed_up, r.purchased,
                     CASE r.bound_path WHEN 'click' THEN k.referral_code ELSE b.referral_code END AS code
              FROM analytics_customers r
              LEFT JOIN analytics_conversions b ON b.tenant_id = r.tenant_id AND b.conversion_id = r.bound_by
              LEFT JOIN analytics_clicks k ON k.tenant_id = r.tenant_id AND k.click_id = b.click_id
              WHERE r.tenant_id = $1 AND r.campaign_id = $2 AND r.referrer_id IS NOT NULL)
            SELECT key, sum(shares)::bigint AS shares, sum(clicks)::bigint AS clicks,
                   sum(signups)::bigint AS signups, sum(purchases)::bigint AS purchases
            FROM (SELECT key, shared AS shares, clicks, 0 AS signups, 0 AS purchases FROM links
                  UNION ALL
                  SELECT {referee_key}, 0, 0, r.signed_up::int, r.purchased::int
                  FROM referees r LEFT JOIN links l ON l.referral_code = r.code) f
            GROUP BY key ORDER BY key NULLS LAST""", tenant_id, campaign_id)
    return [FunnelStep(_key(r["key"]), r["shares"], r["clicks"], r["signups"], r["purchases"]) for r in rows]


async def k_factor(conn: asyncpg.Connection, tenant_id: str, campaign_id: str,
                   by: Dimension = Dimension.generation) -> list[analytics.KFactor]:
    """Per generation, or per acquisition cohort (by=day): customers, the shares they sent and the
    customers they won."""
    if by not in (Dimension.generation, Dimension.day):
        raise ValueError(f"the K-factor is split by generation or day, not {by}")
    cohort = ("coalesce(generation, 0)" if by is Dimension.generation
              else "(least(first_converted_at, first_shared_at) AT TIME ZONE 'UTC')::date")
    rows = await conn.fetch(
        f"""WITH c AS (SELECT customer_id, referrer_id, {cohort} AS key FROM analytics_customers
                       WHERE tenant_id = $1 AND campaign_id = $2)
            SELECT key, sum(customers)::bigint AS customers, sum(invites)::bigint AS invites,
                   sum(won)::bigint AS won
            FROM (SELECT key, 1 AS customers, 0 AS invites, 0 AS won FROM c
                  UNION ALL
                  SELECT s.key, 0, l.shared, 0 FROM analytics_links l JOIN c s ON s.customer_id = l.sharer_id
                  WHERE l.tenant_id = $1 AND l.campaign_id = $2
                  UNION ALL
                  SELECT p.key, 0, 0, 1 FROM c r JOIN c p ON p.customer_id = r.referrer_id) parts
            WHERE key IS NOT NULL GROUP BY key ORDER BY key""", tenant_id, campaign_id)
    return [analytics.k_factor(_key(r["key"]), r["customers"], r["invites"], r["won"]) for r in rows]


@dataclass(frozen=True, slots=True)
class CycleTime:
    generation: int
    referees: int
    average_s: float
    median_s: float


async def cycle_time(conn: asyncpg.Connection, tenant_id: str, campaign_id: str) -> list[CycleTime]:
    """Per referee generation: from the referrer's first conversion to the referee's binding one."""
    rows = await conn.fetch(
        """SELECT generation, count(*) AS n, avg(s) AS average, percentile_cont(0.5) WITHIN GROUP (ORDER BY s) AS median
           FROM (SELECT r.generation, extract(epoch FROM b.converted_at - p.first_converted_at)::float8 AS s
                 FROM analytics_customers r
                 JOIN analytics_conversions b ON b.tenant_id = r.tenant_id AND b.conversion_id = r.bound_by
                 JOIN analytics_customers p ON p.tenant_id = r.tenant_id AND p.campaign_id = r.campaign_id
                                           AND p.customer_id = r.referrer_id
                 WHERE r.tenant_id = $1 AND r.campaign_id = $2 AND r.generation IS NOT NULL
                   AND p.first_converted_at <= b.converted_at) cycles
           GROUP BY generation ORDER BY generation""", tenant_id, campaign_id)
    return [CycleTime(r["generation"], r["n"], r["average"], r["median"]) for r in rows]


async def sentiment(conn: asyncpg.Connection, tenant_id: str, campaign_id: str,
                    by: Dimension | None = None) -> list[analytics.Sentiment]:
    rows = await conn.fetch(
        f"""SELECT {LINK_KEY[by]} AS key, count(*) AS shares,
                   count(*) FILTER (WHERE l.sentiment IS NOT NULL) AS rated,
                   count(*) FILTER (WHERE l.sentiment < 0) AS negative
            FROM {LINKS} WHERE l.tenant_id = $1 AND l.campaign_id = $2 AND l.shared = 1
            GROUP BY 1 ORDER BY 1 NULLS LAST""", tenant_id, campaign_id)
    return [analytics.sentiment(_key(r["key"]), r["shares"], r["rated"], r["negative"]) for r in rows]


async def drift(conn: asyncpg.Connection, tenant_id: str, campaign_id: str) -> list[analytics.Drift]:
    """Segment mixes per generation; generation 0 is its seeders (customers nobody referred who shared)."""
    rows = await conn.fetch(
        """SELECT coalesce(generation, 0) AS generation, segment, count(*) AS n FROM analytics_customers
           WHERE tenant_id = $1 AND campaign_id = $2 AND segment IS NOT NULL
             AND (generation > 0 OR first_shared_at IS NOT NULL)
           GROUP BY 1, 2""", tenant_id, campaign_id)
    mixes: dict[int, dict[str, int]] = {}
    for r in rows:
        mixes.setdefault(r["generation"], {})[r["segment"]] = r["n"]
    return analytics.drift(mixes)
