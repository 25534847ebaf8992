"""The attribution model and the upline: which click a first referral is credited to, and what
an attributed conversion says about the chain above the referrer."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from attribution.domain import Binding, Link, Terms, choose_click, decide, event_upline
from attribution.fraud import Click
from kaskade_contracts.events import AttributionModel, ConversionKind, ConversionRecorded

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def click(code: str, minutes_before: int, visitor: str = "v1") -> Click:
    return Click(uuid.uuid4(), code, visitor, "ip1", T0 - timedelta(minutes=minutes_before), "spring")


def test_last_click_credits_the_conversions_own_click() -> None:
    own, earlier = click("late", 5), click("early", 600)
    assert choose_click(AttributionModel.last_click, own, earlier) is own


def test_first_click_credits_the_visitors_earliest_click() -> None:
    own, earlier = click("late", 5), click("early", 600)
    assert choose_click(AttributionModel.first_click, own, earlier) is earlier


def test_first_click_without_an_earlier_click_is_the_own_click() -> None:
    own = click("only", 5)
    assert choose_click(AttributionModel.first_click, own, None) is own
    assert choose_click(AttributionModel.first_click, own, own) is own


def chain(*people: str) -> dict[str, Binding]:
    """Bindings for people[1] referred by people[0], people[2] by people[1], ..."""
    bindings: dict[str, Binding] = {}
    for referrer, referee in zip(people, people[1:]):
        conv = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id=referee, kind=ConversionKind.signup,
                                  referral_code="code01")
        d = decide(conv, referee_binding=None, link=Link("spring", referrer), referrer_binding=bindings.get(referrer))
        assert d.new_binding is not None
        bindings[referee] = d.new_binding
    return bindings


def test_upline_lists_the_referrers_own_referrers_nearest_first() -> None:
    b = chain("anna", "ben", "cleo", "dora")
    conv = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="eve", kind=ConversionKind.purchase,
                              referral_code="code01")

    d = decide(conv, referee_binding=None, link=Link("spring", "dora"), referrer_binding=b["dora"])

    assert d.fact.referrer_id == "dora"  # type: ignore[union-attr]
    assert d.fact.upline == ["cleo", "ben", "anna"]  # type: ignore[union-attr]


def test_a_seeders_referee_has_an_empty_upline() -> None:
    assert event_upline(("anna",)) == []


def test_upline_stops_at_ten() -> None:
    people = [f"p{i}" for i in range(15)]
    b = chain(*people)
    assert event_upline(b["p14"].upline) == [f"p{i}" for i in range(12, 2, -1)]


def test_a_bound_customer_carries_the_upline_of_their_referrer() -> None:
    b = chain("anna", "ben", "cleo")
    later = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="cleo", kind=ConversionKind.purchase)

    d = decide(later, referee_binding=b["cleo"], link=None, referrer_binding=None)

    assert (d.fact.referrer_id, d.fact.upline) == ("ben", ["anna"])  # type: ignore[union-attr]


def test_terms_default_to_last_click_in_thirty_days() -> None:
    assert (Terms().model, Terms().window_days) == (AttributionModel.last_click, 30)
