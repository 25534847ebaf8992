"""reward's SQL: the ledger, budgets and rewards, set-based per batch."""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg

from kaskade_contracts.events import RewardKind
from reward.domain import Candidate, Rule

BudgetKey = tuple[str, str, str]  # tenant, campaign, currency


async def rules_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]
                    ) -> dict[tuple[str, str], tuple[Rule, int]]:
    """Each campaign's rule and its budget (minor units per currency)."""
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT r.* FROM campaign_rules r JOIN unnest($1::text[], $2::text[]) AS k(t, c)
           ON r.tenant_id = k.t AND r.campaign_id = k.c""", [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["campaign_id"]): (Rule("referrer-fixed", r["referrer_reward_minor"],
                                                      RewardKind(r["reward_kind"]), r["status"] == "active"),
                                                 r["budget_minor"])
            for r in rows}


async def existing_rewards(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT r.tenant_id, r.idempotency_key FROM rewards r JOIN unnest($1::text[], $2::text[]) AS k(t, key)
           ON r.tenant_id = k.t AND r.idempotency_key = k.key""", [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["idempotency_key"]) for r in rows}


async def ensure_budgets(conn: asyncpg.Connection, budgets: dict[BudgetKey, int]) -> None:
    """Open and fund the budget account of each campaign and currency seen for the first time."""
    keys = sorted(budgets)
    created = await conn.fetch(
        """INSERT INTO accounts (tenant_id, kind, owner_id, currency)
           SELECT t, 'campaign_budget', c, cur FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
           ON CONFLICT DO NOTHING RETURNING account_id, tenant_id, owner_id, currency""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    if not created:
        return
    funding = await conn.fetch(
        """INSERT INTO accounts (tenant_id, kind, owner_id, currency)
           SELECT t, 'funding', c, cur FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
           ON CONFLICT (tenant_id, kind, owner_id, currency) DO UPDATE SET balance = accounts.balance
           RETURNING account_id, tenant_id, owner_id, currency""",
        [r["tenant_id"] for r in created], [r["owner_id"] for r in created], [r["currency"] for r in created])
    funding_ids = {(r["tenant_id"], r["owner_id"], r["currency"]): r["account_id"] for r in funding}
    txs, entries = [], []
    for r in created:
        tx_id = uuid.uuid4()
        key = (r["tenant_id"], r["owner_id"], r["currency"])
        txs.append((tx_id, r["tenant_id"], f"fund:{r['owner_id']}:{r['currency']}", "budget_funded"))
        entries += [(tx_id, funding_ids[key], -budgets[key]), (tx_id, r["account_id"], budgets[key])]
    await book(conn, txs, entries)


async def lock_budgets(conn: asyncpg.Connection, keys: Iterable[BudgetKey]) -> dict[BudgetKey, tuple[int, int]]:
    """Lock each budget row (in account order, so concurrent batches cannot deadlock)."""
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT a.account_id, a.tenant_id, a.owner_id, a.currency, a.balance FROM accounts a
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
             ON a.tenant_id = k.t AND a.kind = 'campaign_budget' AND a.owner_id = k.c AND a.currency = k.cur
           ORDER BY a.account_id FOR UPDATE OF a""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["tenant_id"], r["owner_id"], r["currency"]): (r["account_id"], r["balance"]) for r in rows}


async def customer_accounts(conn: asyncpg.Connection, keys: Iterable[tuple[str, str, str]]
                            ) -> dict[tuple[str, str, str], int]:
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """INSERT INTO accounts (tenant_id, kind, owner_id, currency)
           SELECT t, 'customer_rewards', c, cur FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
           ON CONFLICT (tenant_id, kind, owner_id, currency) DO UPDATE SET balance = accounts.balance
           RETURNING account_id, tenant_id, owner_id, currency""",
        [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
    return {(r["tenant_id"], r["owner_id"], r["currency"]): r["account_id"] for r in rows}


async def book(conn: asyncpg.Connection, txs: Sequence[tuple[uuid.UUID, str, str, str]],
               entries: Sequence[tuple[uuid.UUID, int, int]]) -> None:
    """Write transactions with their entries and move the balances, all set-wise."""
    if not txs:
        return
    await conn.execute(
        """INSERT INTO ledger_transactions (tx_id, tenant_id, idempotency_key, kind)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])""",
        *[list(c) for c in zip(*txs)])
    await conn.execute(
        "INSERT INTO ledger_entries (tx_id, account_id, amount) SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[])",
        *[list(c) for c in zip(*entries)])
    deltas: dict[int, int] = defaultdict(int)
    for _, account_id, amount in entries:
        deltas[account_id] += amount
    await conn.execute(
        """UPDATE accounts a SET balance = a.balance + d.delta
           FROM unnest($1::bigint[], $2::bigint[]) AS d(id, delta) WHERE a.account_id = d.id""",
        list(deltas), list(deltas.values()))


async def insert_rewards(conn: asyncpg.Connection, rows: Sequence[tuple[Candidate, str, str | None, uuid.UUID | None]]
                         ) -> None:
    if not rows:
        return
    await conn.executemany(
        """INSERT INTO rewards (reward_id, tenant_id, idempotency_key, campaign_id, conversion_id, rule_id,
                                recipient_id, role, kind, amount_minor, currency, generation, status,
                                decline_reason, tx_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)""",
        [(c.reward_id, c.tenant_id, c.idempotency_key, c.attribution.campaign_id, c.attribution.conversion_id,
          c.rule.rule_id, c.recipient_id, c.role.value, c.rule.kind.value, c.amount_minor, c.attribution.currency,
          c.attribution.generation, status, reason, tx_id) for c, status, reason, tx_id in rows])
