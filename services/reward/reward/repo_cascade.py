"""SQL for the purchases kept to pay a corrected cascade."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import ConversionAttributed
from reward.domain import ReferredPurchase

RefereeKey = tuple[str, str, str]  # tenant, campaign, referee


async def keep_purchases(conn: asyncpg.Connection, facts: Sequence[Envelope[ConversionAttributed]]) -> None:
    if not facts:
        return
    await conn.execute(
        """INSERT INTO referred_purchases (tenant_id, campaign_id, referee_id, conversion_id, referrer_id,
                                          amount_minor, currency, purchased_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::bigint[],
                                $7::text[], $8::timestamptz[])
           ON CONFLICT DO NOTHING""",
        [e.tenant_id for e in facts], [e.payload.campaign_id for e in facts], [e.payload.referee_id for e in facts],
        [e.payload.conversion_id for e in facts], [e.payload.referrer_id for e in facts],
        [e.payload.amount_minor for e in facts], [e.payload.currency for e in facts], [e.occurred_at for e in facts])


async def purchases_of(conn: asyncpg.Connection, keys: Iterable[RefereeKey]
                       ) -> dict[RefereeKey, list[ReferredPurchase]]:
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT p.* FROM referred_purchases p JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, r)
             ON p.tenant_id = k.t AND p.campaign_id = k.c AND p.referee_id = k.r
           ORDER BY p.purchased_at, p.conversion_id""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    out: dict[RefereeKey, list[ReferredPurchase]] = {}
    for r in rows:
        out.setdefault((r["tenant_id"], r["campaign_id"], r["referee_id"]), []).append(ReferredPurchase(
            r["conversion_id"], r["referee_id"], r["referrer_id"], r["amount_minor"], r["currency"],
            r["purchased_at"]))
    return out


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> None:
    await conn.execute("UPDATE referred_purchases SET referee_id = $3 WHERE tenant_id = $1 AND referee_id = $2",
                       tenant_id, customer_id, replacement_id)
    await conn.execute("UPDATE referred_purchases SET referrer_id = $3 WHERE tenant_id = $1 AND referrer_id = $2",
                       tenant_id, customer_id, replacement_id)
