"""Attribution rules: who referred a converting customer, at which generation, and what is refused."""
from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from attribution.domain import Binding, Decision, Link, Outcome, decide, expired
from kaskade_contracts.events import (AttributionPath, AttributionRejected, ConversionAttributed, ConversionKind,
                                      ConversionRecorded, ConversionUnattributed, RejectionReason)

CODE = "q8ZbN2xk4T"


def conversion(customer: str, *, code: str | None = CODE, click: uuid.UUID | None = None,
               campaign: str = "spring", amount: int = 4999, kind: ConversionKind = ConversionKind.purchase
               ) -> ConversionRecorded:
    return ConversionRecorded(conversion_id=uuid.uuid4(), campaign_id=campaign, customer_id=customer, kind=kind,
                              amount_minor=amount, currency="EUR", referral_code=code, click_id=click)


def refer(referee: str, referrer: str, referrer_binding: Binding | None = None, **kw: object) -> Decision:
    return decide(conversion(referee, **kw), referee_binding=None, link=Link("spring", referrer),  # type: ignore[arg-type]
                  referrer_binding=referrer_binding)


def bound(referee: str, referrer: str, referrer_binding: Binding | None = None) -> Binding:
    d = refer(referee, referrer, referrer_binding)
    assert d.new_binding is not None
    return d.new_binding


# --- no link, unknown link ------------------------------------------------------------------

def test_conversion_without_code_or_click_is_unattributed() -> None:
    conv = conversion("bob", code=None)

    d = decide(conv, referee_binding=None, link=None, referrer_binding=None)

    assert d.outcome is Outcome.unattributed
    assert isinstance(d.fact, ConversionUnattributed)
    assert (d.fact.reason, d.fact.customer_id, d.fact.conversion_id) == ("no_referral_link", "bob", conv.conversion_id)
    assert d.new_binding is None


def test_unknown_code_is_held_until_its_share_shows_up() -> None:
    d = decide(conversion("bob"), referee_binding=None, link=None, referrer_binding=None)
    assert d == Decision(Outcome.held)


def test_unknown_click_is_held() -> None:
    d = decide(conversion("bob", code=None, click=uuid.uuid4()), referee_binding=None, link=None,
               referrer_binding=None)
    assert d.outcome is Outcome.held and d.fact is None and d.new_binding is None


# --- the cascade ----------------------------------------------------------------------------

def test_seeders_referee_is_generation_one() -> None:
    conv = conversion("bob")

    d = decide(conv, referee_binding=None, link=Link("spring", "alice"), referrer_binding=None)

    assert d.outcome is Outcome.attributed
    assert isinstance(d.fact, ConversionAttributed)
    assert (d.fact.referee_id, d.fact.referrer_id, d.fact.root_seeder_id) == ("bob", "alice", "alice")
    assert d.fact.generation == 1
    assert d.fact.parent_conversion_id is None
    assert (d.fact.conversion_id, d.fact.amount_minor, d.fact.currency) == (conv.conversion_id, 4999, "EUR")
    assert d.new_binding == Binding(referee_id="bob", referrer_id="alice", root_seeder_id="alice", generation=1,
                                    conversion_id=conv.conversion_id, parent_conversion_id=None, upline=("alice",),
                                    campaign_id="spring")


def test_referee_of_a_referee_is_generation_two_under_the_original_seeder() -> None:
    bob = bound("bob", "alice")

    d = refer("carol", "bob", bob)

    assert isinstance(d.fact, ConversionAttributed)
    assert (d.fact.referrer_id, d.fact.root_seeder_id, d.fact.generation) == ("bob", "alice", 2)
    assert d.fact.parent_conversion_id == bob.conversion_id
    assert d.new_binding is not None
    assert d.new_binding.upline == ("alice", "bob")
    assert d.new_binding.parent_conversion_id == bob.conversion_id


def test_attribution_goes_to_the_links_campaign() -> None:
    d = decide(conversion("bob", campaign="default"), referee_binding=None, link=Link("spring", "alice"),
               referrer_binding=None)
    assert d.fact.campaign_id == "spring"  # type: ignore[union-attr]
    assert d.new_binding.campaign_id == "spring"  # type: ignore[union-attr]


# --- fraud ----------------------------------------------------------------------------------

def test_self_referral_is_rejected() -> None:
    conv = conversion("alice")

    d = decide(conv, referee_binding=None, link=Link("spring", "alice"), referrer_binding=None)

    assert d.outcome is Outcome.rejected
    assert isinstance(d.fact, AttributionRejected)
    assert (d.fact.reason, d.fact.referee_id, d.fact.referrer_id) == (RejectionReason.self_referral, "alice", "alice")
    assert d.fact.conversion_id == conv.conversion_id
    assert d.new_binding is None


def test_ring_back_to_the_seeder_is_rejected() -> None:
    bob = bound("bob", "alice")
    carol = bound("carol", "bob", bob)

    d = refer("alice", "carol", carol)  # alice converts through her own grand-referee's link

    assert d.outcome is Outcome.rejected
    assert isinstance(d.fact, AttributionRejected)
    assert (d.fact.reason, d.fact.referee_id, d.fact.referrer_id) == (RejectionReason.referral_ring, "alice", "carol")
    assert d.new_binding is None


def test_seeder_converting_through_their_direct_referee_is_a_ring() -> None:
    d = refer("alice", "bob", bound("bob", "alice"))
    assert d.fact.reason is RejectionReason.referral_ring  # type: ignore[union-attr]


def test_unrelated_customer_through_a_deep_link_is_not_a_ring() -> None:
    carol = bound("carol", "bob", bound("bob", "alice"))
    d = refer("dave", "carol", carol)
    assert d.outcome is Outcome.attributed and d.fact.generation == 3  # type: ignore[union-attr]


# --- customer lock --------------------------------------------------------------------------

def test_bound_referee_stays_with_the_original_referrer() -> None:
    bob = bound("bob", "alice")
    later = conversion("bob", amount=1200)

    d = decide(later, referee_binding=bob, link=Link("spring", "dave"), referrer_binding=None)

    assert d.outcome is Outcome.attributed
    assert isinstance(d.fact, ConversionAttributed)
    assert (d.fact.referrer_id, d.fact.root_seeder_id, d.fact.generation) == ("alice", "alice", 1)
    assert d.fact.path is AttributionPath.bound_customer
    assert (d.fact.conversion_id, d.fact.amount_minor) == (later.conversion_id, 1200)
    assert d.new_binding is None  # the cascade does not change


def test_bound_referee_without_any_link_still_credits_the_referrer() -> None:
    carol = bound("carol", "bob", bound("bob", "alice"))
    d = decide(conversion("carol", code=None), referee_binding=carol, link=None, referrer_binding=None)
    assert d.fact.path is AttributionPath.bound_customer  # type: ignore[union-attr]
    assert (d.fact.referrer_id, d.fact.generation, d.fact.parent_conversion_id) == (  # type: ignore[union-attr]
        "bob", 2, carol.parent_conversion_id)


# --- path -----------------------------------------------------------------------------------

def test_click_beats_code_as_the_path() -> None:
    assert refer("bob", "alice", click=uuid.uuid4()).fact.path is AttributionPath.click  # type: ignore[union-attr]
    assert refer("bob", "alice", code=None, click=uuid.uuid4()).fact.path is AttributionPath.click  # type: ignore[union-attr]
    assert refer("bob", "alice").fact.path is AttributionPath.referral_code  # type: ignore[union-attr]


# --- held too long --------------------------------------------------------------------------

def test_expired_names_what_never_showed_up() -> None:
    by_click = conversion("bob", code=None, click=uuid.uuid4())
    by_code = conversion("carol")

    assert expired(by_click).reason == "unknown_click"
    assert expired(by_code).reason == "unknown_referral_code"
    assert (expired(by_code).conversion_id, expired(by_code).customer_id) == (by_code.conversion_id, "carol")
    assert expired(conversion("dave", click=uuid.uuid4())).reason == "unknown_click"


# --- property: any chain --------------------------------------------------------------------

customer_ids = st.lists(st.from_regex(r"[A-Za-z0-9_-]{1,16}", fullmatch=True), min_size=2, max_size=21, unique=True)


@settings(max_examples=150, deadline=None)
@given(chain=customer_ids)
def test_generation_is_chain_position_and_root_is_the_first_seeder(chain: list[str]) -> None:
    bindings: dict[str, Binding] = {}
    for position in range(1, len(chain)):
        referee, referrer = chain[position], chain[position - 1]
        parent = bindings.get(referrer)

        d = refer(referee, referrer, parent)

        assert isinstance(d.fact, ConversionAttributed)
        assert d.fact.generation == position
        assert d.fact.root_seeder_id == chain[0]
        assert d.fact.referrer_id == referrer
        assert d.fact.parent_conversion_id == (parent.conversion_id if parent else None)
        assert d.new_binding is not None and d.new_binding.upline == tuple(chain[:position])
        bindings[referee] = d.new_binding

    # Closing the chain back onto the seeder is a ring; a bound member keeps their referrer.
    last = bindings[chain[-1]]
    assert refer(chain[0], chain[-1], last).fact.reason is RejectionReason.referral_ring  # type: ignore[union-attr]
    member = chain[len(chain) // 2] if len(chain) > 2 else chain[1]
    d = decide(conversion(member), referee_binding=bindings[member], link=Link("spring", chain[-1]),
               referrer_binding=last)
    assert d.fact.path is AttributionPath.bound_customer  # type: ignore[union-attr]
    assert d.fact.referrer_id == bindings[member].referrer_id  # type: ignore[union-attr]
