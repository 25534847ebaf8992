"""reward's SQL: the ledger, budgets and rewards, set-based per batch."""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence

import asyncpg

from kaskade_platform.dedupe import latest_by
from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import CampaignDefined, CampaignStatus, CampaignTerms
from reward.domain import Campaign, Candidate

BudgetKey = tuple[str, str, str]  # tenant, campaign, currency


async def upsert_campaigns(conn: asyncpg.Connection, facts: Sequence[Envelope[CampaignDefined]]
                           ) -> list[tuple[str, Campaign]]:
    """Keep each campaign's newest definition; returns (tenant, campaign) for those that changed."""
    facts = latest_by(facts, lambda e: (e.tenant_id, e.payload.campaign_id), lambda e: e.payload.version)
    rows = await conn.fetch(
        """INSERT INTO campaigns (tenant_id, campaign_id, version, status, terms)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::jsonb[])
           ON CONFLICT (tenant_id, campaign_id) DO UPDATE
             SET version = excluded.version, status = excluded.status, terms = excluded.terms
             WHERE campaigns.version < excluded.version
           RETURNING tenant_id, campaign_id, status, terms""",
        [e.tenant_id for e in facts], [e.payload.campaign_id for e in facts], [e.payload.version for e in facts],
        [e.payload.status.value for e in facts], [e.payload.terms.model_dump(mode="json") for e in facts])
    return [(r["tenant_id"], _campaign(r)) for r in rows]


async def campaigns_for(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Campaign]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT c.tenant_id, c.campaign_id, c.status, c.terms FROM campaigns c
           JOIN unnest($1::text[], $2::text[]) AS k(t, c) ON c.tenant_id = k.t AND c.campaign_id = k.c""",
        [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["campaign_id"]): _campaign(r) for r in rows}


def _campaign(r: asyncpg.Record) -> Campaign:
    return Campaign.from_terms(r["campaign_id"], CampaignStatus(r["status"]), CampaignTerms(**r["terms"]))


async def existing_rewards(conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    keys = list(keys)
    rows = await conn.fetch(
        """SELECT r.tenant_id, r.idempotency_key FROM rewards r JOIN unnest($1::text[], $2::text[]) AS k(t, key)
           ON r.tenant_id = k.t AND r.idempotency_key = k.key""", [k[0] for k in keys], [k[1] for k in keys])
    return {(r["tenant_id"], r["idempotency_key"]) for r in rows}


async def fund_budgets(conn: asyncpg.Connection, targets: dict[BudgetKey, int]) -> None:
    """Bring each campaign budget to its target: open the accounts on first use, then book the
    difference between the target and what was funded so far. A cut never takes the budget
    below zero: what is already granted stays granted."""
    keys = sorted(targets)
    cols = [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]]
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
    cols = [(c.reward_id, c.tenant_id, c.idempotency_key, c.attribution.campaign_id, c.attribution.conversion_id,
             c.rule.rule_id, c.recipient_id, c.role.value, c.rule.kind.value, c.amount_minor, c.currency,
             c.attribution.generation, status, reason, tx_id) for c, status, reason, tx_id in rows]
    await conn.execute(
        """INSERT INTO rewards (reward_id, tenant_id, idempotency_key, campaign_id, conversion_id, rule_id,
                                recipient_id, role, kind, amount_minor, currency, generation, status,
                                decline_reason, tx_id)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::bigint[], $11::text[], $12::int[], $13::text[],
                                $14::text[], $15::uuid[])""", *[list(c) for c in zip(*cols)])


async def erase(conn: asyncpg.Connection, tenant_id: str, customer_id: str, replacement_id: str) -> None:
    """The ledger keeps every amount; only the recipient's id is replaced."""
    await conn.execute("UPDATE rewards SET recipient_id = $3 WHERE tenant_id = $1 AND recipient_id = $2",
                       tenant_id, customer_id, replacement_id)
    await conn.execute(
        """UPDATE accounts SET owner_id = $3 WHERE tenant_id = $1 AND kind = 'customer_rewards' AND owner_id = $2""",
        tenant_id, customer_id, replacement_id)
