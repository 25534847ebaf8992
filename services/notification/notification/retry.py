"""Backoff between delivery attempts, shared by email and webhooks. Pure; randomness passed in."""
from __future__ import annotations


def backoff_s(attempt: int, initial_s: float, max_s: float, jitter: float) -> float:
    """Exponential in the attempts made so far, scaled by a jitter in [50%, 100%) (`jitter` in
    [0, 1)) so that deliveries that failed together (an endpoint or mail server was down) do not
    all come back together."""
    base = min(max_s, initial_s * 2 ** max(0, attempt - 1))
    return base * (0.5 + 0.5 * jitter)
