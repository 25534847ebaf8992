"""Revocation: a refund or cancellation (AttributionReversed) takes back the rewards paid for the
purchase in proportion to what was refunded. Pending rewards are revoked; confirmed ones are
reversed with compensating entries. Either way the amount goes back to the campaign budget.

Each conversion's furthest refund is kept, and a reward granted after it (a replay, or two
consumers racing) is revoked in the same transaction: the ledger ends the same in any order.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import AttributionReversed, RewardRevoked
from reward import domain, ledger, repo
from reward.domain import Candidate


@dataclass(frozen=True, slots=True)
class Refund:
    tenant_id: str
    conversion_id: uuid.UUID
    refund_id: uuid.UUID
    reason: str
    refunded_total_minor: int
    conversion_amount_minor: int
    full: bool
    cause: Envelope[Any]


async def revoke(conn: asyncpg.Connection, facts: list[Envelope[AttributionReversed]]) -> list[Envelope[Any]]:
    # Budgets before rewards, the order granting locks in: two consumers on one campaign take turns.
    budgets = await ledger.lock_campaign_budgets(conn, {(e.tenant_id, e.payload.campaign_id) for e in facts})
    await repo.record_reversals(conn, facts)
    return await _apply(conn, [Refund(e.tenant_id, e.payload.conversion_id, e.payload.refund_id, e.payload.kind.value,
                                      e.payload.refunded_total_minor, e.payload.conversion_amount_minor,
                                      e.payload.full, e) for e in facts], budgets)


async def revoke_refunded(conn: asyncpg.Connection, granted: Iterable[Candidate],
                          cause: dict[uuid.UUID, Envelope[Any]]) -> list[Envelope[Any]]:
    """Revoke what was just granted for conversions already refunded (the caller holds the budgets)."""
    first = {}
    for c in granted:
        if c.conversion_id is not None:
            first.setdefault((c.tenant_id, c.conversion_id), cause[c.reward_id])
    stored = await repo.reversals_for(conn, first) if first else []
    return await _apply(conn, [Refund(r["tenant_id"], r["conversion_id"], r["refund_id"], r["kind"],
                                      r["refunded_total_minor"], r["conversion_amount_minor"], r["full_refund"],
                                      first[(r["tenant_id"], r["conversion_id"])]) for r in stored], {})


async def _apply(conn: asyncpg.Connection, refunds: list[Refund],
                 budgets: dict[ledger.BudgetKey, ledger.Budget]) -> list[Envelope[Any]]:
    if not refunds:
        return []
    rows = await repo.lock_conversion_rewards(conn, {(f.tenant_id, f.conversion_id) for f in refunds})
    by_conversion: dict[tuple[str, uuid.UUID], list[asyncpg.Record]] = {}
    for r in rows:
        by_conversion.setdefault((r["tenant_id"], r["conversion_id"]), []).append(r)
    revoked = {r["reward_id"]: r["revoked_minor"] for r in rows}
    takes: list[tuple[asyncpg.Record, Refund, int, int]] = []  # reward, refund, amount now, remaining
    for f in refunds:  # in order: each refund sees what the earlier ones revoked
        for r in by_conversion.get((f.tenant_id, f.conversion_id), []):
            amount = domain.revocable(r["amount_minor"], revoked[r["reward_id"]], f.refunded_total_minor,
                                      f.conversion_amount_minor, f.full)
            if amount:
                revoked[r["reward_id"]] += amount
                takes.append((r, f, amount, r["amount_minor"] - revoked[r["reward_id"]]))
    if not takes:
        return []

    def budget_key(r: asyncpg.Record) -> ledger.BudgetKey:
        return (r["tenant_id"], r["campaign_id"], r["currency"])

    def account_key(r: asyncpg.Record) -> ledger.AccountKey:
        return (r["tenant_id"], f"customer_{r['status']}", r["recipient_id"], r["currency"])
    budgets = budgets | await ledger.lock_budgets(conn, {budget_key(r) for r, *_ in takes} - set(budgets))
    accounts = await ledger.accounts(conn, {account_key(r) for r, *_ in takes})
    txs, entries, events = [], [], []
    for r, f, amount, remaining in takes:
        tx_id = ledger.tx_id("revoke", r["reward_id"], f.refund_id)
        txs.append((tx_id, r["tenant_id"], f"revoke:{r['idempotency_key']}:{f.refund_id}", "reward_revoked"))
        entries += [(tx_id, accounts[account_key(r)], -amount), (tx_id, budgets[budget_key(r)].account_id, amount)]
        events.append(new_envelope(RewardRevoked(
            reward_id=r["reward_id"], idempotency_key=r["idempotency_key"], campaign_id=r["campaign_id"],
            conversion_id=r["conversion_id"], rule_id=r["rule_id"], recipient_id=r["recipient_id"], role=r["role"],
            amount_minor=amount, currency=r["currency"], remaining_minor=remaining, reason=f.reason,
            compensated=r["status"] == "confirmed"), tenant_id=r["tenant_id"], causation=f.cause))
    await ledger.book(conn, txs, entries)
    await repo.mark_revoked(conn, {r["reward_id"]: revoked[r["reward_id"]] - r["revoked_minor"] for r, *_ in takes})
    return events
