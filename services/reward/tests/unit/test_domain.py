"""Reward rules and budget allocation: what a referrer earns, and who is declined when the budget runs out."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaskade_contracts.events import (AttributionPath, ConversionAttributed, ConversionKind, RewardKind,
                                      RewardRole)
from reward.domain import Candidate, Rule, allocate, candidates, declined_fact, granted_fact, idempotency_key

RULE = Rule("referrer-fixed", 500, RewardKind.account_credit)


def attributed(*, referrer: str = "alice", kind: ConversionKind = ConversionKind.purchase, campaign: str = "spring",
               currency: str = "EUR", conversion_id: uuid.UUID | None = None, generation: int = 1
               ) -> ConversionAttributed:
    return ConversionAttributed(conversion_id=conversion_id or uuid.uuid4(), campaign_id=campaign, kind=kind,
                                amount_minor=4999, currency=currency, referee_id="bob", referrer_id=referrer,
                                root_seeder_id=referrer, generation=generation, path=AttributionPath.click)


def one(tenant: str = "acme", rule: Rule = RULE, **kw: object) -> Candidate:
    [c] = candidates(tenant, attributed(**kw), rule)  # type: ignore[arg-type]
    return c


# --- idempotency keys -----------------------------------------------------------------------

CONVERSION = uuid.UUID("11111111-1111-4111-8111-111111111111")


def test_idempotency_key_is_deterministic() -> None:
    assert idempotency_key("spring", CONVERSION, "r1", "alice") == idempotency_key("spring", uuid.UUID(str(CONVERSION)),
                                                                                  "r1", "alice")


def test_idempotency_key_differs_in_each_part() -> None:
    keys = {
        idempotency_key("spring", CONVERSION, "r1", "alice"),
        idempotency_key("autumn", CONVERSION, "r1", "alice"),
        idempotency_key("spring", uuid.UUID(int=1), "r1", "alice"),
        idempotency_key("spring", CONVERSION, "r2", "alice"),
        idempotency_key("spring", CONVERSION, "r1", "bob"),
        # Moving characters between parts must not collide.
        idempotency_key("spring", CONVERSION, "r1a", "lice"),
    }
    assert len(keys) == 6
    assert all(len(k) <= 128 for k in keys)  # fits RewardGranted.idempotency_key


# --- candidates -----------------------------------------------------------------------------

def test_referred_purchase_earns_the_referrer_one_reward() -> None:
    fact = attributed(conversion_id=CONVERSION)

    cands = candidates("acme", fact, RULE)

    assert len(cands) == 1
    c = cands[0]
    assert (c.recipient_id, c.role, c.amount_minor) == ("alice", RewardRole.referrer, 500)
    assert c.idempotency_key == idempotency_key("spring", CONVERSION, "referrer-fixed", "alice")
    assert c.budget_key == ("acme", "spring", "EUR")


def test_reward_id_is_stable_across_replays_and_distinct_per_tenant_and_conversion() -> None:
    fact = attributed(conversion_id=CONVERSION)
    first = candidates("acme", fact, RULE)[0].reward_id

    assert candidates("acme", fact.model_copy(), RULE)[0].reward_id == first
    assert candidates("globex", fact, RULE)[0].reward_id != first
    assert one(conversion_id=uuid.UUID(int=2)).reward_id != first


@pytest.mark.parametrize(("fact", "rule"), [
    (attributed(kind=ConversionKind.signup), RULE),
    (attributed(), Rule("referrer-fixed", 500, RewardKind.account_credit, active=False)),
    (attributed(), Rule("referrer-fixed", 0, RewardKind.account_credit)),
], ids=["signup", "inactive-rule", "zero-amount"])
def test_no_reward(fact: ConversionAttributed, rule: Rule) -> None:
    assert candidates("acme", fact, rule) == []


def test_granted_fact_is_the_public_contract_of_the_candidate() -> None:
    c = one(generation=3, currency="USD")

    fact = granted_fact(c)

    assert (fact.reward_id, fact.idempotency_key, fact.recipient_id) == (c.reward_id, c.idempotency_key, "alice")
    assert (fact.amount_minor, fact.currency, fact.generation, fact.status) == (500, "USD", 3, "pending")
    assert fact.kind is RewardKind.account_credit and fact.role is RewardRole.referrer


def test_declined_fact_says_why() -> None:
    c = one()
    fact = declined_fact(c, "budget_exhausted")
    assert (fact.reward_id, fact.reason, fact.amount_minor) == (c.reward_id, "budget_exhausted", 500)


# --- allocation -----------------------------------------------------------------------------

def test_grants_until_the_budget_runs_out_then_declines() -> None:
    cands = [one() for _ in range(4)]
    balances = {("acme", "spring", "EUR"): 1200}

    granted, declined = allocate(cands, balances)

    assert granted == cands[:2]
    assert declined == cands[2:]
    assert balances[("acme", "spring", "EUR")] == 200


def test_budget_exactly_covering_a_reward_grants_it_and_leaves_zero() -> None:
    balances = {("acme", "spring", "EUR"): 500}
    granted, declined = allocate([one()], balances)
    assert (len(granted), declined, balances[("acme", "spring", "EUR")]) == (1, [], 0)


def test_a_reward_that_still_fits_is_granted_after_a_larger_one_is_declined() -> None:
    big, small = one(rule=Rule("big", 800, RewardKind.points)), one(rule=Rule("small", 300, RewardKind.points))
    balances = {("acme", "spring", "EUR"): 500}

    granted, declined = allocate([big, small], balances)

    assert (granted, declined, balances[("acme", "spring", "EUR")]) == ([small], [big], 200)


def test_campaign_without_budget_declines_everything() -> None:
    granted, declined = allocate([one()], {})
    assert granted == [] and len(declined) == 1


def test_budgets_are_separate_per_tenant_campaign_and_currency() -> None:
    autumn, eur, eur_again, usd, globex = (one(campaign="autumn"), one(), one(), one(currency="USD"),
                                           one(tenant="globex"))
    balances = {("acme", "autumn", "EUR"): 0, ("acme", "spring", "EUR"): 500, ("acme", "spring", "USD"): 500,
                ("globex", "spring", "EUR"): 1000}

    granted, declined = allocate([autumn, eur, eur_again, usd, globex], balances)

    assert granted == [eur, usd, globex]
    assert declined == [autumn, eur_again]
    assert balances == {("acme", "autumn", "EUR"): 0, ("acme", "spring", "EUR"): 0, ("acme", "spring", "USD"): 0,
                        ("globex", "spring", "EUR"): 500}


@settings(max_examples=200, deadline=None)
@given(amounts=st.lists(st.integers(min_value=1, max_value=1_000), max_size=30),
       budget=st.integers(min_value=0, max_value=10_000))
def test_allocation_never_overspends_and_keeps_order(amounts: list[int], budget: int) -> None:
    cands = [one(rule=Rule(f"r{i}", amount, RewardKind.account_credit)) for i, amount in enumerate(amounts)]
    key = ("acme", "spring", "EUR")
    balances = {key: budget}

    granted, declined = allocate(cands, balances)

    spent = sum(c.amount_minor for c in granted)
    assert spent <= budget
    assert balances[key] == budget - spent >= 0
    # Every candidate is decided exactly once, and each list keeps the input order.
    assert sorted(map(id, granted + declined)) == sorted(map(id, cands))
    position = {id(c): i for i, c in enumerate(cands)}
    assert [position[id(c)] for c in granted] == sorted(position[id(c)] for c in granted)
    assert [position[id(c)] for c in declined] == sorted(position[id(c)] for c in declined)
    # Nothing is declined that the leftover budget could still have paid.
    assert all(c.amount_minor > balances[key] for c in declined)
