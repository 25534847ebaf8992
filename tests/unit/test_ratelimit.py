"""Per-key token buckets: a burst is allowed, then callers are told how long to wait."""
from __future__ import annotations

import math

import pytest

from kaskade_platform.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_burst_is_allowed_then_the_next_request_waits_for_one_token(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3.0, clock=clock)

    assert [limiter.take("acme") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("acme") == pytest.approx(0.5)  # one token at 2 per second


def test_the_wait_shrinks_as_time_passes_and_a_refusal_costs_nothing(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2.0, clock=clock)
    limiter.take("acme", 2)

    assert limiter.take("acme") == pytest.approx(1.0)
    assert limiter.take("acme") == pytest.approx(1.0)  # refusals do not dig the hole deeper
    clock.advance(0.25)
    assert limiter.take("acme") == pytest.approx(0.75)
    clock.advance(0.75)
    assert limiter.take("acme") == 0.0


def test_tokens_refill_at_the_rate(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=4.0, burst=5.0, clock=clock)
    limiter.take("acme", 5)

    clock.advance(0.75)  # three tokens back
    assert [limiter.take("acme") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("acme") == pytest.approx(0.25)


def test_refill_stops_at_the_burst(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=100.0, burst=3.0, clock=clock)
    limiter.take("acme", 3)

    clock.advance(3600)  # an idle hour buys a burst, not 360,000 requests
    assert [limiter.take("acme") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("acme") == pytest.approx(0.01)


def test_a_costly_request_waits_for_all_the_tokens_it_needs(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=4.0, burst=10.0, clock=clock)
    limiter.take("acme", 8)

    assert limiter.take("acme", 6) == pytest.approx(1.0)  # 2 left, 4 more at 4 per second
    assert limiter.take("acme", 2) == 0.0


def test_each_key_has_its_own_bucket(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=2.0, clock=clock)
    limiter.take("acme", 2)

    assert limiter.take("acme") > 0
    assert [limiter.take("globex") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("globex") > 0


def test_a_cost_above_the_burst_can_never_fit(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=3.0, clock=clock)

    assert limiter.take("acme", 4) == math.inf
    clock.advance(3600)
    assert limiter.take("acme", 4) == math.inf
    # Asking for too much at once spends nothing: the full burst is still there.
    assert limiter.take("acme", 3) == 0.0


def test_a_cost_equal_to_the_burst_fits_a_full_bucket(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=3.0, clock=clock)

    assert limiter.take("acme", 3) == 0.0
    assert limiter.take("acme", 3) == pytest.approx(3.0)


def test_a_free_request_is_always_allowed(clock: Clock) -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1.0, clock=clock)
    limiter.take("acme")

    assert limiter.take("acme", 0) == 0.0  # a batch of one has already paid through its request
