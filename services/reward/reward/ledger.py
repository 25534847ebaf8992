"""The double-entry ledger's SQL: accounts, budget funding and locking, and bookings, set-based.

Every transaction's entries sum to zero; balances move by one UPDATE per batch, so a hot
campaign budget is written once per batch however many rewards the batch grants. Granting moves
the recipients' balances by a second UPDATE, its last write (see `move_balances`).
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from kaskade_platform.texts import columns, packed
from reward.domain import REWARD_NAMESPACE

BudgetKey = tuple[str, str, str]  # tenant, campaign, currency
AccountKey = tuple[str, str, str, str]  # tenant, kind, owner, currency
Tx = tuple[uuid.UUID, str, str, str]  # tx id, tenant, idempotency key, kind
Entry = tuple[uuid.UUID, int, int]  # tx id, account, amount


@dataclass(frozen=True, slots=True)
class Budget:
    account_id: int
    balance: int
    funded: int  # what the budget was funded with so far

    @property
    def committed(self) -> int:
        return self.funded - self.balance


def _cols(keys: Sequence[tuple[str, ...]]) -> list[list[str]]:
    return [[k[i] for k in keys] for i in range(len(keys[0]))] if keys else [[], [], []]


async def fund_budgets(conn: asyncpg.Connection, targets: dict[BudgetKey, int]) -> None:
    """Bring each campaign budget to its target: open the accounts on first use, then book the
    difference between the target and what was funded so far. A cut never takes the budget
    below zero: what is already granted stays granted."""
    keys = sorted(targets)
    if not keys:
        return
    cols = _cols(keys)
    for kind in ("campaign_budget", "funding"):
        await conn.execute(
            """INSERT INTO accounts (tenant_id, kind, owner_id, currency)
               SELECT t, $4, c, cur FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
               ON CONFLICT DO NOTHING""", *cols, kind)
    rows = await conn.fetch(
        """SELECT b.tenant_id, b.owner_id, b.currency, b.account_id AS budget_id, b.balance AS budget_balance,
                  f.account_id AS funding_id, f.balance AS funding_balance
           FROM unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
           JOIN accounts b ON b.tenant_id = k.t AND b.kind = 'campaign_budget' AND b.owner_id = k.c AND b.currency = k.cur
           JOIN accounts f ON f.tenant_id = k.t AND f.kind = 'funding' AND f.owner_id = k.c AND f.currency = k.cur
           ORDER BY b.account_id FOR UPDATE OF b, f""", *cols)
    txs, entries = [], []
    for r in rows:
        target, funded = targets[(r["tenant_id"], r["owner_id"], r["currency"])], -r["funding_balance"]
        delta = max(target - funded, -r["budget_balance"])
        if delta == 0:
            continue
        tx_id = uuid.uuid4()
        txs.append((tx_id, r["tenant_id"], f"fund:{r['owner_id']}:{r['currency']}:{tx_id}", "budget_funded"))
        entries += [(tx_id, r["funding_id"], -delta), (tx_id, r["budget_id"], delta)]
    await book(conn, txs, entries)


async def lock_budgets(conn: asyncpg.Connection, keys: Iterable[BudgetKey]) -> dict[BudgetKey, Budget]:
    """Lock each budget row (in account order, so concurrent batches cannot deadlock). Whoever
    holds a campaign's budget lock decides that campaign's rewards, caps and milestones."""
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT a.account_id, a.tenant_id, a.owner_id, a.currency, a.balance, -f.balance AS funded
           FROM accounts a
           JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(t, c, cur)
             ON a.tenant_id = k.t AND a.kind = 'campaign_budget' AND a.owner_id = k.c AND a.currency = k.cur
           JOIN accounts f ON f.tenant_id = a.tenant_id AND f.kind = 'funding' AND f.owner_id = a.owner_id
             AND f.currency = a.currency
           ORDER BY a.account_id FOR UPDATE OF a""", *_cols(keys))
    return {(r["tenant_id"], r["owner_id"], r["currency"]): Budget(r["account_id"], r["balance"], r["funded"])
            for r in rows}


async def lock_campaign_budgets(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]
                                ) -> dict[BudgetKey, Budget]:
    """Lock every currency's budget of each (tenant, campaign), like `lock_budgets`."""
    keys = sorted(set(keys))
    rows = await conn.fetch(
        """SELECT a.account_id, a.tenant_id, a.owner_id, a.currency, a.balance, -f.balance AS funded
           FROM accounts a
           JOIN unnest($1::text[], $2::text[]) AS k(t, c)
             ON a.tenant_id = k.t AND a.kind = 'campaign_budget' AND a.owner_id = k.c
           JOIN accounts f ON f.tenant_id = a.tenant_id AND f.kind = 'funding' AND f.owner_id = a.owner_id
             AND f.currency = a.currency
           ORDER BY a.account_id FOR UPDATE OF a""", [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["owner_id"], r["currency"]): Budget(r["account_id"], r["balance"], r["funded"])
            for r in rows}


async def accounts(conn: asyncpg.Connection, keys: Iterable[AccountKey]) -> dict[AccountKey, int]:
    """Customer accounts by (tenant, kind, owner, currency), opened on first use. Nothing is locked
    here: balances are locked only by `book`, in account order. Existing accounts are read first:
    opening them with ON CONFLICT would probe every key again, and wait for any other transaction
    opening the same account (two group members granting to one referrer in different campaigns)."""
    missing = sorted(set(keys))
    found: dict[AccountKey, int] = {}
    for statement in (_EXISTING_ACCOUNTS, _OPEN_ACCOUNTS, _EXISTING_ACCOUNTS):  # the last: opened meanwhile
        if not missing:
            break
        rows = await conn.fetch(statement, *[packed([k[i] for k in missing]) for i in range(4)])
        found.update({(r["tenant_id"], r["kind"], r["owner_id"], r["currency"]): r["account_id"] for r in rows})
        missing = [k for k in missing if k not in found]
    return found


_EXISTING_ACCOUNTS = """
    SELECT a.account_id, a.tenant_id, a.kind, a.owner_id, a.currency
    FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), unpack_texts($4)) AS k(t, kind, o, cur)
    JOIN accounts a ON a.tenant_id = k.t AND a.kind = k.kind AND a.owner_id = k.o AND a.currency = k.cur"""
_OPEN_ACCOUNTS = """
    INSERT INTO accounts (tenant_id, kind, owner_id, currency)
    SELECT * FROM unnest(unpack_texts($1), unpack_texts($2), unpack_texts($3), unpack_texts($4))
    ON CONFLICT DO NOTHING RETURNING account_id, tenant_id, kind, owner_id, currency"""


async def book(conn: asyncpg.Connection, txs: Sequence[Tx], entries: Sequence[Entry],
               defer: Collection[int] = ()) -> dict[int, int]:
    """Write transactions with their entries and move the balances: one statement, set-wise.
    (The entries' foreign keys are checked at the end of the statement, when the transactions exist.)

    The balances of the accounts in `defer` are not moved: their deltas are returned, for
    `move_balances` as the transaction's last write."""
    if not txs:
        return {}
    deltas: dict[int, int] = defaultdict(int)
    for _, account_id, amount in entries:
        deltas[account_id] += amount
    ids = sorted(i for i in deltas if i not in defer)  # one lock order for every writer
    await conn.execute(
        """WITH txs AS (INSERT INTO ledger_transactions (tx_id, tenant_id, idempotency_key, kind)
                        SELECT * FROM unnest($1::uuid[], unpack_texts($2), unpack_texts($3), unpack_texts($4))),
                entries AS (INSERT INTO ledger_entries (tx_id, account_id, amount)
                            SELECT * FROM unnest($5::uuid[], $6::bigint[], $7::bigint[]))
           UPDATE accounts a SET balance = a.balance + d.delta
           FROM unnest($8::bigint[], $9::bigint[]) AS d(id, delta) WHERE a.account_id = d.id""",
        *columns(txs, 4, texts=(1, 2, 3)), *columns(entries, 3), ids, [deltas[i] for i in ids])
    return {i: d for i, d in deltas.items() if i in defer}


async def move_balances(conn: asyncpg.Connection, deltas: dict[int, int]) -> None:
    """Move balances that `book` deferred, in account order. Customer accounts are shared by the
    consumers of every campaign; moved as the last write, their row locks are held only until the
    commit, not while the rest of the batch is written."""
    ids = sorted(i for i, d in deltas.items() if d)
    if ids:
        await conn.execute("""UPDATE accounts a SET balance = a.balance + d.delta
                              FROM unnest($1::bigint[], $2::bigint[]) AS d(id, delta) WHERE a.account_id = d.id""",
                           ids, [deltas[i] for i in ids])


def tx_id(purpose: str, reward_id: uuid.UUID, *more: object) -> uuid.UUID:
    """Derived, so a booking retried after a crash has the same id."""
    return uuid.uuid5(REWARD_NAMESPACE, "\x00".join((purpose, str(reward_id), *map(str, more))))
