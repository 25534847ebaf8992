"""The analytics customer upsert against real Postgres: a fact that changes nothing leaves the
stored row as it was (no new row version), and a fact that changes one column still writes it.

Most facts change nothing: every verdict restates its referrer's generation, and a repeat
purchase is not a first conversion. A row's xmin is the transaction that wrote its current
version, so an unchanged xmin proves the row was not rewritten.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from attribution.analytics_facts import CustomerFact
from attribution.analytics_repo import upsert_customers

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 1, 9, tzinfo=timezone.utc)


async def _apply(pool: asyncpg.Pool, key: tuple[str, str, str], fact: CustomerFact) -> tuple[str, asyncpg.Record]:
    """Upsert one fact in a transaction of its own; returns the row's xmin and the row."""
    async with pool.acquire() as conn, conn.transaction():
        await upsert_customers(conn, {key: fact})
    row = await pool.fetchrow("SELECT xmin::text AS xmin, * FROM analytics_customers WHERE tenant_id = $1 "
                              "AND campaign_id = $2 AND customer_id = $3", *key)
    return row["xmin"], row


STORED = CustomerFact(generation=1, referrer_id="anna", bound_by=uuid.uuid4(), bound_path="click", purchases=1,
                      segment="students", segment_at=T0, first_converted_at=T0, first_shared_at=T0)
UNCHANGED = [
    CustomerFact(generation=2),  # a referee's verdict restating the referrer one generation up
    CustomerFact(generation=1),
    CustomerFact(referrer_id="bob", bound_by=uuid.uuid4(), bound_path="referral_code"),  # the first binding holds
    CustomerFact(segment="pros", segment_at=T0 + timedelta(hours=1), first_converted_at=T0 + timedelta(days=1)),
    CustomerFact(first_shared_at=T0 + timedelta(minutes=5)),
]
CHANGED = [
    (CustomerFact(generation=0), "generation", 0),
    (CustomerFact(signed_up=True), "signed_up", True),
    (CustomerFact(purchases=1), "purchases", 2),
    (CustomerFact(refunded_purchases=1), "refunded_purchases", 1),
    (CustomerFact(segment="pros", segment_at=T0 - timedelta(hours=1)), "segment", "pros"),
    (CustomerFact(first_converted_at=T0 - timedelta(days=1)), "first_converted_at", T0 - timedelta(days=1)),
    (CustomerFact(first_shared_at=T0 - timedelta(days=1)), "first_shared_at", T0 - timedelta(days=1)),
]


def _key() -> tuple[str, str, str]:
    return f"ar-{uuid.uuid4().hex[:10]}", "spring", "ben"


@pytest.mark.parametrize("fact", UNCHANGED)
async def test_a_fact_that_changes_nothing_does_not_rewrite_the_row(pool: asyncpg.Pool, fact: CustomerFact) -> None:
    key = _key()
    before, stored = await _apply(pool, key, STORED)
    after, row = await _apply(pool, key, fact)
    assert after == before
    assert dict(row) == dict(stored)


@pytest.mark.parametrize(("fact", "column", "value"), CHANGED)
async def test_a_fact_that_changes_one_column_writes_it(pool: asyncpg.Pool, fact: CustomerFact, column: str,
                                                        value: Any) -> None:
    key = _key()
    before, stored = await _apply(pool, key, STORED)
    after, row = await _apply(pool, key, fact)
    assert after != before
    assert row[column] == value
    unchanged = {c for c in stored.keys() if c not in {"xmin", column, "segment_at", "purchased"}}
    assert {c: row[c] for c in unchanged} == {c: stored[c] for c in unchanged}


async def test_the_first_binding_of_an_unbound_customer_is_written(pool: asyncpg.Pool) -> None:
    """A customer first seen converting (no referrer yet) is bound by a later verdict."""
    key, conv = _key(), uuid.uuid4()
    before, _ = await _apply(pool, key, CustomerFact(segment="pros", segment_at=T0, first_converted_at=T0))
    after, row = await _apply(pool, key, CustomerFact(generation=1, referrer_id="anna", bound_by=conv,
                                                      bound_path="click", purchases=1))
    assert after != before
    assert (row["generation"], row["referrer_id"], row["bound_by"], row["bound_path"], row["purchased"]) == (
        1, "anna", conv, "click", True)
