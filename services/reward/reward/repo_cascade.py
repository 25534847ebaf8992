"""SQL for the purchases kept to pay a corrected cascade."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import asyncpg

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import ConversionAttributed
from kaskade_platform.texts import packed
from reward.domain import ReferredPurchase

RefereeKey = tuple[str, str, str]  # tenant, campaign, referee


async def keep_purchases(conn: asyncpg.Connection, facts: Sequence[Envelope[ConversionAttributed]]) -> None:
    if not facts:
        return
    await conn.execute(
        """INSERT INTO referred_purchases (tenant_id, campaign_id, referee_id, conversion_id, referrer_id,
                                          amount_minor, currency, purchased_at)
           SELECT * FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), $4::uuid[], unpack_texts($5),
                                $6::bigint[], unpack_texts($7), $8::timestamptz[])
           ON CONFLICT DO NOTHING""",
        packed([e.tenant_id for e in facts]), packed([e.payload.campaign_id for e in facts]),
        packed([e.payload.referee_id for e in facts]), [e.payload.conversion_id for e in facts],
        packed([e.payload.referrer_id for e in facts]), [e.payload.amount_minor for e in facts],
        packed([e.payload.currency for e in facts]), [e.occurred_at for e in facts])


async def purchases_of(conn: asyncpg.Connection, keys: Iterable[RefereeKey]
                       ) -> dict[RefereeKey, list[ReferredPurchase]]:
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT p.* FROM referred_purchases p
           JOIN unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3)) AS k(t, c, r)
             ON p.tenant_id = k.t AND p.campaign_id = k.c AND p.referee_id = k.r
           ORDER BY p.purchased_at, p.conversion_id""",
        packed([k[0] for k in keys]), packed([k[1] for k in keys]), packed([k[2] for k in keys]))
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
