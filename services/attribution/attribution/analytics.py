"""Viral analytics: the definitions of the figures, as pure functions over counts.

Generations. A customer nobody referred in the campaign is generation 0 (a seeder, or a walk-in
customer); a customer attributed at generation n (ConversionAttributed.generation) is generation n.
A share belongs to its sharer's generation; the customers it wins are one generation deeper.

Funnel. shares -> clicks -> signups -> purchases, per link: the shares and the clicks on them; then
the referees that link brought (the link that bound them to their referrer), counted once each if
they made an attributed signup and once if they made an attributed purchase (later purchases of a
bound referee do not inflate the funnel). Split by the link's channel, message variant, the
sharer's segment, the share's day, or the sharer's generation.

K-factor. K = i x c, the common definition: i = invites per customer, c = conversion rate per invite.
Every share is an invitation. For generation n:
  i_n = shares by generation-n customers / generation-n customers
  c_n = generation-(n+1) customers won / shares by generation-n customers
so K_n = customers won / customers: above 1 the next generation is larger than this one. Over time
the same formula is applied to acquisition cohorts: the customers first seen (first conversion or
share) on day d, the shares they sent and the customers they won, whenever that happened.

Cycle time. For each referee: the time from their referrer's first conversion to the referee's
binding conversion, averaged and its median taken per referee generation. A referrer who had not
converted (yet) when their referee did contributes no cycle.

Negative sentiment. Of the shares that carry a sentiment, the share with sentiment < 0.

Segment drift. Each generation's segment mix (customers with a known segment; for generation 0,
the seeders: generation-0 customers who shared) compared with the seeders' mix by total variation
distance, TVD(P, Q) = 1/2 * sum over segments |P(s) - Q(s)|: 0 for the same mix, 1 for disjoint ones,
and the largest difference in the share of customers any set of segments can have.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


def ratio(part: float, whole: float) -> float | None:
    """None when there is nothing to divide by: an absent figure, not a zero."""
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class KFactor:
    key: int | str
    customers: int
    invites: int
    won: int
    invites_per_customer: float | None
    conversion_rate: float | None
    k: float | None


def k_factor(key: int | str, customers: int, invites: int, won: int) -> KFactor:
    # K = i x c = won / customers; written so, it is also defined (0) for customers who invited nobody.
    return KFactor(key, customers, invites, won, ratio(invites, customers), ratio(won, invites), ratio(won, customers))


def k_by_generation(customers: Mapping[int, int], invites: Mapping[int, int]) -> list[KFactor]:
    """K per generation from customers and shares per generation: generation n won the customers
    of generation n+1."""
    gens = sorted(set(customers) | set(invites))
    return [k_factor(g, customers.get(g, 0), invites.get(g, 0), customers.get(g + 1, 0)) for g in gens]


def tvd(p: Mapping[str, int], q: Mapping[str, int]) -> float | None:
    """Total variation distance between two count distributions; None if either is empty."""
    np, nq = sum(p.values()), sum(q.values())
    if not np or not nq:
        return None
    return sum(abs(p.get(s, 0) / np - q.get(s, 0) / nq) for s in set(p) | set(q)) / 2


@dataclass(frozen=True, slots=True)
class Drift:
    generation: int
    customers: int
    mix: dict[str, float]
    distance: float | None


def drift(mixes: Mapping[int, Mapping[str, int]]) -> list[Drift]:
    """Each generation's segment mix and its distance from generation 0's (the seeders')."""
    seeders = mixes.get(0, {})
    out = []
    for g in sorted(mixes):
        n = sum(mixes[g].values())
        out.append(Drift(g, n, {s: c / n for s, c in sorted(mixes[g].items())} if n else {}, tvd(mixes[g], seeders)))
    return out


@dataclass(frozen=True, slots=True)
class Sentiment:
    key: int | str | None
    shares: int
    rated: int
    negative: int
    negative_share: float | None


def sentiment(key: int | str | None, shares: int, rated: int, negative: int) -> Sentiment:
    return Sentiment(key, shares, rated, negative, ratio(negative, rated))
