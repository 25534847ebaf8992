"""Reward rules and budget allocation: what the referrer and the referee earn, and who is declined
when the budget runs out."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kaskade_contracts.events import (AttributionPath, CampaignStatus, CampaignTerms, ConversionAttributed,
                                      ConversionKind, RewardKind, RewardRole, RewardRule)
from reward.domain import Campaign, Candidate, Rule, allocate, declined_fact, granted_fact, idempotency_key
from reward.rules import for_referral

AT = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def candidates(tenant: str, fact: ConversionAttributed, terms: Campaign) -> list[Candidate]:
    return for_referral(tenant, fact, terms, AT)


def campaign(referrer: int = 500, referee: int = 0, *, referrer_bps: int = 0, referee_bps: int = 0,
             currency: str = "EUR", kind: RewardKind = RewardKind.account_credit) -> Campaign:
    return Campaign("spring", True, currency, 100_000, Rule("referrer", referrer, kind, referrer_bps),
                    Rule("referee", referee, kind, referee_bps))


REFERRER_ONLY = campaign()
DOUBLE_SIDED = campaign(300, 200)


def attributed(*, referrer: str = "alice", kind: ConversionKind = ConversionKind.purchase, campaign: str = "spring",
               currency: str = "EUR", amount: int = 4999, conversion_id: uuid.UUID | None = None,
               generation: int = 1) -> ConversionAttributed:
    return ConversionAttributed(conversion_id=conversion_id or uuid.uuid4(), campaign_id=campaign, kind=kind,
                                amount_minor=amount, currency=currency, referee_id="bob", referrer_id=referrer,
                                root_seeder_id=referrer, generation=generation, path=AttributionPath.click)


def one(tenant: str = "acme", terms: Campaign = REFERRER_ONLY, **kw: object) -> Candidate:
    [c] = candidates(tenant, attributed(**kw), terms)  # type: ignore[arg-type]
    return c


def amounts(terms: Campaign, **kw: object) -> dict[RewardRole, int]:
    return {c.role: c.amount_minor for c in candidates("acme", attributed(**kw), terms)}  # type: ignore[arg-type]


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


# --- campaigns ------------------------------------------------------------------------------

def defined(**kw: object) -> CampaignTerms:
    return CampaignTerms(landing_url="https://shop.example.com/", **kw)  # type: ignore[arg-type]


def test_from_terms_maps_currency_budget_and_both_rules() -> None:
    c = Campaign.from_terms("spring", CampaignStatus.active, defined(
        currency="USD", budget_minor=12_345,
        referrer_reward=RewardRule(kind=RewardKind.points, amount_minor=300, percent_bps=250),
        referee_reward=RewardRule(kind=RewardKind.discount_code, amount_minor=200)))

    assert (c.campaign_id, c.active, c.currency, c.budget_minor) == ("spring", True, "USD", 12_345)
    assert c.referrer == Rule("referrer", 300, RewardKind.points, 250)
    assert c.referee == Rule("referee", 200, RewardKind.discount_code, 0)


def test_from_terms_defaults_pay_the_referrer_500_and_the_referee_nothing() -> None:
    c = Campaign.from_terms("spring", CampaignStatus.active, defined())
    assert (c.referrer.amount_minor, c.referee.amount_minor, c.currency) == (500, 0, "EUR")


@pytest.mark.parametrize(("status", "active"), [(CampaignStatus.active, True), (CampaignStatus.paused, False),
                                                (CampaignStatus.ended, False)])
def test_only_an_active_campaign_is_active(status: CampaignStatus, active: bool) -> None:
    assert Campaign.from_terms("spring", status, defined()).active is active


# --- candidates -----------------------------------------------------------------------------

def test_referred_purchase_earns_the_referrer_one_reward() -> None:
    cands = candidates("acme", attributed(conversion_id=CONVERSION), REFERRER_ONLY)

    assert len(cands) == 1
    c = cands[0]
    assert (c.recipient_id, c.role, c.amount_minor, c.currency) == ("alice", RewardRole.referrer, 500, "EUR")
    assert c.idempotency_key == idempotency_key("spring", CONVERSION, "referrer", "alice")
    assert c.budget_key == ("acme", "spring", "EUR")


def test_double_sided_purchase_rewards_referrer_and_referee_separately() -> None:
    referrer, referee = candidates("acme", attributed(conversion_id=CONVERSION), DOUBLE_SIDED)

    assert (referrer.recipient_id, referrer.role, referrer.amount_minor) == ("alice", RewardRole.referrer, 300)
    assert (referee.recipient_id, referee.role, referee.amount_minor) == ("bob", RewardRole.referee, 200)
    assert referrer.idempotency_key == idempotency_key("spring", CONVERSION, "referrer", "alice")
    assert referee.idempotency_key == idempotency_key("spring", CONVERSION, "referee", "bob")
    assert referrer.reward_id != referee.reward_id
    assert referrer.budget_key == referee.budget_key == ("acme", "spring", "EUR")  # one budget pays both


def test_reward_id_is_stable_across_replays_and_distinct_per_tenant_and_conversion() -> None:
    fact = attributed(conversion_id=CONVERSION)
    first = candidates("acme", fact, REFERRER_ONLY)[0].reward_id

    assert candidates("acme", fact.model_copy(), REFERRER_ONLY)[0].reward_id == first
    assert candidates("globex", fact, REFERRER_ONLY)[0].reward_id != first
    assert one(conversion_id=uuid.UUID(int=2)).reward_id != first


@pytest.mark.parametrize(("fact", "terms"), [
    (attributed(kind=ConversionKind.signup), DOUBLE_SIDED),
    (attributed(kind=ConversionKind.signup), campaign(0, 0, referrer_bps=1000, referee_bps=1000)),
    (attributed(), campaign(0, 0)),
    (attributed(amount=0), campaign(0, 0, referrer_bps=1000, referee_bps=1000)),
    (attributed(amount=9), campaign(0, 0, referrer_bps=10, referee_bps=10)),  # 9 * 0.1 % floors to 0
    (attributed(currency="USD"), campaign(0, 0, referrer_bps=1000, referee_bps=1000)),
], ids=["signup", "signup-percent", "zero-amounts", "zero-purchase", "share-floors-to-zero", "foreign-currency"])
def test_no_reward(fact: ConversionAttributed, terms: Campaign) -> None:
    assert candidates("acme", fact, terms) == []


@pytest.mark.parametrize(("terms", "roles"), [(campaign(500, 0), {RewardRole.referrer}),
                                               (campaign(0, 200), {RewardRole.referee})],
                         ids=["referee-earns-nothing", "referrer-earns-nothing"])
def test_a_side_earning_nothing_gets_no_candidate(terms: Campaign, roles: set[RewardRole]) -> None:
    assert set(amounts(terms)) == roles


def test_percentage_reward_is_the_floored_share_of_the_purchase() -> None:
    assert amounts(campaign(0, 0, referrer_bps=1000, referee_bps=500)) == {
        RewardRole.referrer: 499, RewardRole.referee: 249}  # 10 % and 5 % of 49.99, floored


def test_fixed_and_percentage_parts_add_up() -> None:
    assert amounts(campaign(100, 50, referrer_bps=1000, referee_bps=10_000)) == {
        RewardRole.referrer: 100 + 499, RewardRole.referee: 50 + 4999}


def test_a_purchase_in_another_currency_earns_only_the_fixed_part_in_the_campaign_currency() -> None:
    [c] = candidates("acme", attributed(currency="USD"), campaign(100, 0, referrer_bps=1000, referee_bps=1000))

    assert (c.role, c.amount_minor, c.currency) == (RewardRole.referrer, 100, "EUR")
    assert c.budget_key == ("acme", "spring", "EUR")
    assert (granted_fact(c).currency, declined_fact(c, "budget_exhausted").currency) == ("EUR", "EUR")


@settings(max_examples=200, deadline=None)
@given(purchase=st.integers(min_value=0, max_value=10**12), bps=st.integers(min_value=0, max_value=10_000),
       fixed=st.integers(min_value=0, max_value=10**6))
def test_percentage_share_is_floored_and_never_exceeds_the_purchase(purchase: int, bps: int, fixed: int) -> None:
    earned = amounts(campaign(fixed, 0, referrer_bps=bps), amount=purchase).get(RewardRole.referrer, 0)
    share = earned - fixed
    assert 0 <= share <= purchase
    assert share * 10_000 <= purchase * bps < (share + 1) * 10_000


def test_granted_fact_is_the_public_contract_of_the_candidate() -> None:
    c = one(generation=3, terms=campaign(currency="USD", kind=RewardKind.points), currency="USD")

    fact = granted_fact(c)

    assert (fact.reward_id, fact.idempotency_key, fact.recipient_id) == (c.reward_id, c.idempotency_key, "alice")
    assert (fact.amount_minor, fact.currency, fact.generation, fact.status) == (500, "PTS", 3, "pending")
    assert (fact.rule_id, fact.campaign_id, fact.conversion_id) == ("referrer", "spring", c.conversion_id)
    assert fact.hold_until == AT + timedelta(days=14) and (fact.share_id, fact.discount_code) == (None, None)
    assert fact.kind is RewardKind.points and fact.role is RewardRole.referrer


def test_declined_fact_says_why() -> None:
    c = one(terms=campaign(0, 200))
    fact = declined_fact(c, "budget_exhausted")
    assert (fact.reward_id, fact.reason, fact.amount_minor) == (c.reward_id, "budget_exhausted", 200)
    assert (fact.recipient_id, fact.role) == ("bob", RewardRole.referee)


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


def test_the_referee_side_may_be_declined_when_the_referrer_side_used_the_budget() -> None:
    referrer, referee = candidates("acme", attributed(), DOUBLE_SIDED)
    balances = {("acme", "spring", "EUR"): 400}

    assert allocate([referrer, referee], balances) == ([referrer], [referee])
    assert balances[("acme", "spring", "EUR")] == 100


def test_a_reward_that_still_fits_is_granted_after_a_larger_one_is_declined() -> None:
    big, small = one(terms=campaign(800)), one(terms=campaign(300))
    balances = {("acme", "spring", "EUR"): 500}

    granted, declined = allocate([big, small], balances)

    assert (granted, declined, balances[("acme", "spring", "EUR")]) == ([small], [big], 200)


def test_campaign_without_budget_declines_everything() -> None:
    granted, declined = allocate([one()], {})
    assert granted == [] and len(declined) == 1


def test_budgets_are_separate_per_tenant_campaign_and_currency() -> None:
    usd = campaign(currency="USD")
    autumn, eur, eur_again, dollars, globex = (one(campaign="autumn"), one(), one(), one(terms=usd),
                                               one(tenant="globex"))
    balances = {("acme", "autumn", "EUR"): 0, ("acme", "spring", "EUR"): 500, ("acme", "spring", "USD"): 500,
                ("globex", "spring", "EUR"): 1000}

    granted, declined = allocate([autumn, eur, eur_again, dollars, globex], balances)

    assert granted == [eur, dollars, globex]
    assert declined == [autumn, eur_again]
    assert balances == {("acme", "autumn", "EUR"): 0, ("acme", "spring", "EUR"): 0, ("acme", "spring", "USD"): 0,
                        ("globex", "spring", "EUR"): 500}


@settings(max_examples=200, deadline=None)
@given(amounts_=st.lists(st.integers(min_value=1, max_value=1_000), max_size=30),
       budget=st.integers(min_value=0, max_value=10_000))
def test_allocation_never_overspends_and_keeps_order(amounts_: list[int], budget: int) -> None:
    cands = [one(terms=campaign(amount)) for amount in amounts_]
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
