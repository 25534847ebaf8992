"""Viral analytics definitions, checked against a hand-computed cascade.

The cascade (campaign "spring"), the same one the integration test pushes through Kafka:
  generation 0: anna (students; shares a WhatsApp and an email link), bob (pros; one WhatsApp
                link, never buys), zoe (pros; buys, never shares)
  generation 1: ben (via anna's WhatsApp), cleo (anna's email), fred (anna's WhatsApp),
                dan (bob's WhatsApp; retirees)
  generation 2: eve (via ben's SMS link)
"""
from __future__ import annotations

import pytest

from attribution.analytics import drift, k_by_generation, k_factor, ratio, sentiment, tvd

CUSTOMERS = {0: 3, 1: 4, 2: 1}  # anna bob zoe | ben cleo dan fred | eve
SHARES = {0: 3, 1: 1}  # anna 2 + bob 1 | ben 1


def test_k_factor_per_generation_is_invites_per_customer_times_conversion_per_invite() -> None:
    k = {f.key: f for f in k_by_generation(CUSTOMERS, SHARES)}

    # Generation 0: 3 shares by 3 customers won 4 customers: i = 1, c = 4/3.
    assert (k[0].invites_per_customer, k[0].conversion_rate, k[0].k) == (1.0, pytest.approx(4 / 3),
                                                                         pytest.approx(4 / 3))
    # Generation 1: 1 share by 4 customers won eve: i = 1/4, c = 1.
    assert (k[1].customers, k[1].invites, k[1].won) == (4, 1, 1)
    assert (k[1].invites_per_customer, k[1].conversion_rate, k[1].k) == (0.25, 1.0, 0.25)
    # Generation 2 invited nobody: no conversion rate, and K is 0, not undefined.
    assert (k[2].invites_per_customer, k[2].conversion_rate, k[2].k) == (0.0, None, 0.0)


def test_k_factor_is_the_product_of_its_factors() -> None:
    f = k_factor("2026-03-02", customers=7, invites=4, won=5)
    assert f.k == pytest.approx(f.invites_per_customer * f.conversion_rate) == pytest.approx(5 / 7)


def test_k_factor_of_a_cohort_without_customers_is_absent() -> None:
    assert k_factor(3, customers=0, invites=0, won=0).k is None


def test_total_variation_distance() -> None:
    seeders = {"students": 1, "pros": 1}
    assert tvd({"students": 2, "pros": 1, "retirees": 1}, seeders) == pytest.approx(0.25)
    assert tvd({"pros": 1}, seeders) == pytest.approx(0.5)
    assert tvd({"students": 5, "pros": 5}, seeders) == 0  # the mix counts, not the size
    assert tvd({"a": 3}, {"b": 1}) == 1.0  # disjoint
    assert tvd({}, seeders) is None


def test_drift_per_generation_from_the_seeders_mix() -> None:
    d = {x.generation: x for x in drift({0: {"students": 1, "pros": 1},
                                         1: {"students": 2, "pros": 1, "retirees": 1},
                                         2: {"pros": 1}})}

    assert (d[0].distance, d[1].distance, d[2].distance) == (0, pytest.approx(0.25), pytest.approx(0.5))
    assert d[1].customers == 4
    assert d[1].mix == {"pros": 0.25, "retirees": 0.25, "students": 0.5}


def test_drift_without_known_seeders_has_no_distance() -> None:
    assert [x.distance for x in drift({1: {"pros": 2}})] == [None]


def test_negative_sentiment_is_a_share_of_the_rated_shares() -> None:
    s = sentiment("all", shares=4, rated=3, negative=2)
    assert s.negative_share == pytest.approx(2 / 3)
    assert sentiment("sms", shares=1, rated=0, negative=0).negative_share is None


def test_ratio_of_nothing_is_absent_not_zero() -> None:
    assert (ratio(0, 5), ratio(3, 0)) == (0.0, None)
