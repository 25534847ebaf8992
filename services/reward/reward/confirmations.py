"""Confirmation: when a pending reward's hold (the refund window) ends, it becomes final. A
periodic job; `now` comes from the clock the composition root injects, so tests move time."""
from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import RewardConfirmed
from reward import ledger, repo


async def confirm_due(conn: asyncpg.Connection, now: datetime, limit: int,
                      tenants: list[str] | None = None) -> list[Envelope[Any]]:
    """Confirm up to `limit` rewards whose hold ended by `now`: what is left of each after partial
    revocations moves from the recipient's pending to their confirmed account."""
    rows = await repo.lock_due(conn, now, limit, tenants)
    if not rows:
        return []

    def key(r: asyncpg.Record, kind: str) -> ledger.AccountKey:
        return (r["tenant_id"], kind, r["recipient_id"], r["currency"])
    accounts = await ledger.accounts(conn, {key(r, k) for r in rows for k in ("customer_pending", "customer_confirmed")})
    txs, entries, events = [], [], []
    for r in rows:
        amount = r["amount_minor"] - r["revoked_minor"]
        tx_id = ledger.tx_id("confirm", r["reward_id"])
        txs.append((tx_id, r["tenant_id"], f"confirm:{r['idempotency_key']}", "reward_confirmed"))
        entries += [(tx_id, accounts[key(r, "customer_pending")], -amount),
                    (tx_id, accounts[key(r, "customer_confirmed")], amount)]
        events.append(new_envelope(RewardConfirmed(
            reward_id=r["reward_id"], idempotency_key=r["idempotency_key"], campaign_id=r["campaign_id"],
            conversion_id=r["conversion_id"], rule_id=r["rule_id"], recipient_id=r["recipient_id"], role=r["role"],
            kind=r["kind"], amount_minor=amount, currency=r["currency"], discount_code=r["discount_code"]),
            tenant_id=r["tenant_id"], occurred_at=now))
    await ledger.book(conn, txs, entries)
    await repo.mark_confirmed(conn, [r["reward_id"] for r in rows], now)
    return events
