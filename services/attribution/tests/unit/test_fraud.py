"""The fraud rules: each refuses what it should, says why, and leaves an honest referral alone."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from attribution.domain import Binding, Link, Outcome, Terms, decide
from attribution.fraud import Click, Signals
from kaskade_contracts.events import (AttributionRejected, ConversionKind, ConversionRecorded, FraudRules,
                                      RejectionReason)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
ANNA = Link("spring", "anna", sharer_email_hash="a11a")


def conv(customer: str = "ben", *, order: str | None = None, email: str | None = None) -> ConversionRecorded:
    return ConversionRecorded(conversion_id=uuid.uuid4(), campaign_id="spring", customer_id=customer,
                              kind=ConversionKind.purchase, amount_minor=5000, click_id=uuid.uuid4(),
                              order_id=order, customer_email_hash=email)


def click(seconds_before: float = 300, visitor: str = "v-ben", ip: str = "ip-ben") -> Click:
    return Click(uuid.uuid4(), "code", visitor, ip, T0 - timedelta(seconds=seconds_before), "spring")


def judge(c: ConversionRecorded, *, rules: FraudRules = FraudRules(), signals: Signals = Signals(),
          used: Click | None = None, link: Link = ANNA, referee: Binding | None = None):  # type: ignore[no-untyped-def]
    return decide(c, referee_binding=referee, link=link, referrer_binding=None, via_click=True,
                  click=used or click(), converted_at=T0, terms=Terms(fraud=rules), signals=signals)


def rejected(d) -> tuple[RejectionReason, str]:  # type: ignore[no-untyped-def]
    assert d.outcome is Outcome.rejected and isinstance(d.fact, AttributionRejected) and d.new_binding is None
    return d.fact.reason, d.fact.detail


def test_an_honest_referral_passes_every_rule() -> None:
    d = judge(conv(order="o-1", email="be11"),
              signals=Signals(clicks_by_visitor=20, clicks_by_ip=100))
    assert d.outcome is Outcome.attributed and d.new_binding is not None


def test_same_email_hash_as_the_sharer_is_self_referral() -> None:
    assert rejected(judge(conv(email="a11a"))) == (RejectionReason.self_referral, "same_email_hash")


@pytest.mark.parametrize("signals, detail", [(Signals(referrer_visitor=True), "same_visitor_id_as_referrer"),
                                             (Signals(referrer_ip=True), "same_ip_hash_as_referrer")])
def test_converting_from_the_referrers_own_device_is_self_referral(signals: Signals, detail: str) -> None:
    assert rejected(judge(conv(), signals=signals)) == (RejectionReason.self_referral, detail)


def test_a_code_typed_on_the_referrers_device_has_no_click_to_compare() -> None:
    c = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="ben", kind=ConversionKind.purchase,
                           referral_code="code01")
    d = decide(c, referee_binding=None, link=ANNA, referrer_binding=None, converted_at=T0,
               signals=Signals(referrer_visitor=True, referrer_ip=True))
    assert d.outcome is Outcome.attributed


def test_self_referral_checks_can_be_turned_off_except_the_same_customer() -> None:
    off = FraudRules(reject_self_referral=False)
    assert judge(conv(email="a11a"), rules=off).outcome is Outcome.attributed
    assert rejected(judge(conv("anna"), rules=off))[0] is RejectionReason.self_referral


def test_click_faster_than_the_minimum_is_injection() -> None:
    reason, detail = rejected(judge(conv(), used=click(seconds_before=3)))
    assert reason is RejectionReason.click_injection
    assert detail == "click_to_conversion=3.0s<10s"


def test_injection_threshold_is_per_campaign_and_zero_turns_it_off() -> None:
    assert judge(conv(), used=click(3), rules=FraudRules(min_click_to_conversion_seconds=0)).outcome is Outcome.attributed
    assert judge(conv(), used=click(30), rules=FraudRules(min_click_to_conversion_seconds=60)).outcome is Outcome.rejected


def test_code_typed_at_checkout_has_no_click_to_judge() -> None:
    c = ConversionRecorded(conversion_id=uuid.uuid4(), customer_id="ben", kind=ConversionKind.purchase,
                           referral_code="code01")
    d = decide(c, referee_binding=None, link=ANNA, referrer_binding=None, converted_at=T0,
               signals=Signals(clicks_by_visitor=999, clicks_by_ip=999))
    assert d.outcome is Outcome.attributed


@pytest.mark.parametrize("signals, detail", [(Signals(clicks_by_visitor=21), "clicks_per_visitor=21>20"),
                                             (Signals(clicks_by_ip=101), "clicks_per_ip=101>100")])
def test_more_clicks_than_allowed_is_flooding(signals: Signals, detail: str) -> None:
    assert rejected(judge(conv(), signals=signals)) == (RejectionReason.click_flooding, detail)


def test_flood_limits_are_per_campaign() -> None:
    rules = FraudRules(max_clicks_per_visitor=3)
    assert judge(conv(), rules=rules, signals=Signals(clicks_by_visitor=3)).outcome is Outcome.attributed
    assert judge(conv(), rules=rules, signals=Signals(clicks_by_visitor=4)).outcome is Outcome.rejected


def test_an_order_already_attributed_is_a_duplicate() -> None:
    other = uuid.uuid4()
    reason, detail = rejected(judge(conv(order="o-9"), signals=Signals(order_attributed_to=other)))
    assert (reason, detail) == (RejectionReason.duplicate_conversion, f"order_id=o-9 of {other}")


def test_the_same_conversion_is_no_duplicate_of_itself_and_the_rule_can_be_off() -> None:
    c = conv(order="o-9")
    assert judge(c, signals=Signals(order_attributed_to=c.conversion_id)).outcome is Outcome.attributed
    assert judge(conv(order="o-9"), signals=Signals(order_attributed_to=uuid.uuid4()),
                 rules=FraudRules(reject_duplicate_orders=False)).outcome is Outcome.attributed


def test_a_bound_customers_duplicate_order_is_refused_too() -> None:
    ben = Binding("ben", "anna", "anna", 1, uuid.uuid4(), None, ("anna",), "spring")
    d = decide(conv(order="o-1"), referee_binding=ben, link=None, referrer_binding=None,
               signals=Signals(order_attributed_to=uuid.uuid4()))
    assert rejected(d)[0] is RejectionReason.duplicate_conversion
    assert d.fact.referrer_id == "anna"  # type: ignore[union-attr]


def test_rings_allowed_by_the_campaign_credit_the_referrer_outside_the_cascade() -> None:
    ben = Binding("ben", "anna", "anna", 1, uuid.uuid4(), None, ("anna",), "spring")
    d = decide(conv("anna"), referee_binding=None, link=Link("spring", "ben"), referrer_binding=ben,
               terms=Terms(fraud=FraudRules(reject_rings=False)))
    assert d.outcome is Outcome.attributed and d.new_binding is None
    assert (d.fact.referrer_id, d.fact.generation) == ("ben", 1)  # type: ignore[union-attr]


def test_the_first_rule_that_trips_is_the_reason() -> None:
    d = judge(conv(email="a11a", order="o-1"), used=click(1),
              signals=Signals(clicks_by_visitor=50, order_attributed_to=uuid.uuid4()))
    assert rejected(d)[0] is RejectionReason.self_referral
