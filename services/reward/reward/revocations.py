"""Revocation: a refund or cancellation (AttributionReversed) takes back the rewards paid for the
purchase in proportion to what was refunded. Pending rewards are revoked; confirmed ones are
reversed with compensating entries. Either way the amount goes back to the campaign budget."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import AttributionReversed, RewardRevoked
from reward import domain, ledger, repo


async def revoke(conn: asyncpg.Connection, facts: list[Envelope[AttributionReversed]]) -> list[Envelope[Any]]:
    rows = await repo.lock_conversion_rewards(conn, {(e.tenant_id, e.payload.conversion_id) for e in facts})
    if not rows:
        return []
    by_conversion: dict[tuple[str, uuid.UUID], list[asyncpg.Record]] = {}
    for r in rows:
        by_conversion.setdefault((r["tenant_id"], r["conversion_id"]), []).append(r)
    revoked = {r["reward_id"]: r["revoked_minor"] for r in rows}
    takes: list[tuple[asyncpg.Record, Envelope[AttributionReversed], int]] = []
    for e in facts:  # in order: each refund sees what the earlier ones revoked
        p = e.payload
        for r in by_conversion.get((e.tenant_id, p.conversion_id), []):
            amount = domain.revocable(r["amount_minor"], revoked[r["reward_id"]], p.refunded_total_minor,
                                      p.conversion_amount_minor, p.full)
            if amount:
                revoked[r["reward_id"]] += amount
                takes.append((r, e, amount))
    if not takes:
        return []
    budgets = await ledger.lock_budgets(conn, {(r["tenant_id"], r["campaign_id"], r["currency"]) for r, _, _ in takes})

    def account_key(r: asyncpg.Record) -> ledger.AccountKey:
        return (r["tenant_id"], f"customer_{r['status']}", r["recipient_id"], r["currency"])
    accounts = await ledger.accounts(conn, {account_key(r) for r, _, _ in takes})
    txs, entries, events, running = [], [], [], {r["reward_id"]: r["revoked_minor"] for r in rows}
    for r, e, amount in takes:
        tx_id = ledger.tx_id("revoke", r["reward_id"], e.payload.refund_id)
        txs.append((tx_id, r["tenant_id"], f"revoke:{r['idempotency_key']}:{e.payload.refund_id}", "reward_revoked"))
        entries += [(tx_id, accounts[account_key(r)], -amount),
                    (tx_id, budgets[(r["tenant_id"], r["campaign_id"], r["currency"])].account_id, amount)]
        running[r["reward_id"]] += amount
        events.append(new_envelope(RewardRevoked(
            reward_id=r["reward_id"], idempotency_key=r["idempotency_key"], campaign_id=r["campaign_id"],
            conversion_id=r["conversion_id"], rule_id=r["rule_id"], recipient_id=r["recipient_id"], role=r["role"],
            amount_minor=amount, currency=r["currency"], remaining_minor=r["amount_minor"] - running[r["reward_id"]],
            reason=e.payload.kind.value, compensated=r["status"] == "confirmed"), tenant_id=r["tenant_id"], causation=e))
    await ledger.book(conn, txs, entries)
    await repo.mark_revoked(conn, {r["reward_id"]: revoked[r["reward_id"]] - r["revoked_minor"] for r, _, _ in takes})
    return events
