"""What the analytics projection learns from each event, and that merging it does not depend on
the order the events arrive in."""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone
from functools import reduce

from attribution.analytics_facts import (CustomerFact, from_attributions, from_conversions, from_shares, link_clicks,
                                         links_from_shares)
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (AttributionPath, Channel, ConversionAttributed, ConversionKind,
                                      ConversionRecorded, ShareRecorded)

T0 = datetime(2026, 3, 2, 23, 30, tzinfo=timezone(timedelta(hours=-2)))  # 01:30 UTC on 3 March
T = "acme"


def share(sharer: str, *, segment: str | None = None, at: datetime = T0,
          code: str = "annaCode01") -> Envelope[ShareRecorded]:
    return new_envelope(ShareRecorded(share_id=uuid.uuid4(), campaign_id="spring", sharer_id=sharer,
                                      channel=Channel.email, message_variant="b", sentiment=-1,
                                      sharer_segment=segment, referral_code=code,
                                      referral_url=f"https://go.test/r/{code}"), tenant_id=T, occurred_at=at)


def conversion(customer: str, *, segment: str | None = None, at: datetime = T0) -> Envelope[ConversionRecorded]:
    return new_envelope(ConversionRecorded(conversion_id=uuid.uuid4(), campaign_id="spring", customer_id=customer,
                                           kind=ConversionKind.purchase, customer_segment=segment),
                        tenant_id=T, occurred_at=at)


def attributed(referee: str, referrer: str, generation: int, path: AttributionPath = AttributionPath.click,
               kind: ConversionKind = ConversionKind.signup) -> Envelope[ConversionAttributed]:
    return new_envelope(ConversionAttributed(
        conversion_id=uuid.uuid4(), campaign_id="spring", kind=kind, amount_minor=0, currency="EUR",
        referee_id=referee, referrer_id=referrer, root_seeder_id="anna", generation=generation, path=path),
        tenant_id=T)


def test_a_verdict_places_the_referee_at_its_generation_and_the_referrer_one_above() -> None:
    v = attributed("eve", "ben", 2)
    f = from_attributions([v])

    assert f[(T, "spring", "eve")] == CustomerFact(generation=2, referrer_id="ben", bound_by=v.payload.conversion_id,
                                                   bound_path="click", signed_up=True)
    assert f[(T, "spring", "ben")] == CustomerFact(generation=1)


def test_a_bound_customers_later_purchase_binds_nobody_but_counts_as_a_purchase() -> None:
    first, later = attributed("ben", "anna", 1), attributed("ben", "anna", 1, AttributionPath.bound_customer,
                                                           ConversionKind.purchase)
    ben = from_attributions([later, first])[(T, "spring", "ben")]

    assert (ben.bound_by, ben.bound_path) == (first.payload.conversion_id, "click")
    assert (ben.signed_up, ben.purchased) == (True, True)


def test_the_earliest_segment_and_times_win_whatever_the_order() -> None:
    late = T0 + timedelta(days=3)
    facts = [from_shares([share("anna", segment="pros", at=late)])[(T, "spring", "anna")],
             from_conversions([conversion("anna", segment="students")])[(T, "spring", "anna")],
             from_conversions([conversion("anna", at=T0 - timedelta(days=1))])[(T, "spring", "anna")],  # no segment
             from_attributions([attributed("ben", "anna", 1)])[(T, "spring", "anna")]]

    merged = {reduce(CustomerFact.merge, order) for order in itertools.permutations(facts)}

    assert merged == {CustomerFact(generation=0, segment="students", segment_at=T0,
                                   first_converted_at=T0 - timedelta(days=1), first_shared_at=late)}


def test_a_generation_learnt_twice_keeps_the_shallowest() -> None:
    assert CustomerFact(generation=3).merge(CustomerFact(generation=1)).generation == 1
    assert CustomerFact().merge(CustomerFact(generation=2)).generation == 2


def test_a_share_is_a_link_dated_by_its_utc_day() -> None:
    links = links_from_shares([share("anna", segment="students")])

    link = links[(T, "annaCode01")]
    assert (link.shared, link.shared_on.isoformat(), link.channel, link.message_variant) == (1, "2026-03-03",
                                                                                             "email", "b")
    assert (link.sharer_segment, link.sentiment, link.clicks) == ("students", -1, 0)


def test_clicks_are_counted_per_link() -> None:
    clicks = link_clicks([(T, "annaCode01", "spring", "anna")] * 3 + [(T, "benCode001", "spring", "ben")])
    assert {k: v.clicks for k, v in clicks.items()} == {(T, "annaCode01"): 3, (T, "benCode001"): 1}
    assert clicks[(T, "benCode001")].shared == 0  # a click alone does not make a share
