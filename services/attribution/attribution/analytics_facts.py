"""What one batch of events teaches the analytics read models about each customer and link,
merged per row before the batch's single upsert (an upsert may not touch a row twice).

Every merge is order-independent (least, or, sums, first non-null of values that cannot differ),
the same rules the upserts in analytics_repo apply against the stored row: the facts a figure
needs arrive on four topics in no guaranteed order.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from typing import Any, NamedTuple, TypeVar

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.events import ConversionAttributed, ConversionRecorded, ShareRecorded

CustomerKey = tuple[str, str, str]  # tenant, campaign, customer
LinkKey = tuple[str, str]  # tenant, referral code
T = TypeVar("T")


def _least(a: T | None, b: T | None) -> T | None:
    return b if a is None else a if b is None else min(a, b)  # type: ignore[type-var]


class CustomerFact(NamedTuple):
    generation: int | None = None
    referrer_id: str | None = None
    bound_by: uuid.UUID | None = None
    bound_path: str | None = None
    signed_up: bool = False
    purchases: int = 0  # attributed purchases ...
    refunded_purchases: int = 0  # ... and how many of them were refunded in full
    segment: str | None = None
    segment_at: datetime | None = None
    first_converted_at: datetime | None = None
    first_shared_at: datetime | None = None

    @property
    def purchased(self) -> bool:
        """Counts as a purchase in the funnel: not every attributed purchase was refunded."""
        return self.purchases > self.refunded_purchases

    def merge(self, other: CustomerFact) -> CustomerFact:
        # The segment seen first is the one the customer had when they joined the cascade.
        earlier = other.segment is not None and (self.segment_at is None or other.segment_at < self.segment_at)
        seg = other if earlier else self
        bound = self if self.bound_by is not None else other
        return CustomerFact(
            generation=_least(self.generation, other.generation),
            referrer_id=self.referrer_id if self.referrer_id is not None else other.referrer_id,
            bound_by=bound.bound_by, bound_path=bound.bound_path,
            signed_up=self.signed_up or other.signed_up, purchases=self.purchases + other.purchases,
            refunded_purchases=self.refunded_purchases + other.refunded_purchases,
            segment=seg.segment, segment_at=seg.segment_at,
            first_converted_at=_least(self.first_converted_at, other.first_converted_at),
            first_shared_at=_least(self.first_shared_at, other.first_shared_at))


def _merge_into(into: dict[Any, CustomerFact], key: Any, fact: CustomerFact) -> None:
    into[key] = into[key].merge(fact) if key in into else fact


def _first_seen(events: Iterable[Envelope[Any]], who: Callable[[Any], str], segment: Callable[[Any], str | None],
                when: str) -> dict[CustomerKey, CustomerFact]:
    out: dict[CustomerKey, CustomerFact] = {}
    for e in events:
        seg = segment(e.payload)
        _merge_into(out, (e.tenant_id, e.payload.campaign_id, who(e.payload)), CustomerFact(
            segment=seg, segment_at=e.occurred_at if seg is not None else None, **{when: e.occurred_at}))
    return out


def from_shares(shares: Iterable[Envelope[ShareRecorded]]) -> dict[CustomerKey, CustomerFact]:
    return _first_seen(shares, lambda p: p.sharer_id, lambda p: p.sharer_segment, "first_shared_at")


def from_conversions(convs: Iterable[Envelope[ConversionRecorded]]) -> dict[CustomerKey, CustomerFact]:
    return _first_seen(convs, lambda p: p.customer_id, lambda p: p.customer_segment, "first_converted_at")


def from_attributions(facts: Iterable[Envelope[ConversionAttributed]]) -> dict[CustomerKey, CustomerFact]:
    """A verdict places both people: the referee at its generation, the referrer one above."""
    out: dict[CustomerKey, CustomerFact] = {}
    for e in facts:
        p = e.payload
        binds = p.path.value != "bound_customer"  # a bound customer's later conversions bind nobody
        _merge_into(out, (e.tenant_id, p.campaign_id, p.referee_id), CustomerFact(
            generation=p.generation, referrer_id=p.referrer_id,
            bound_by=p.conversion_id if binds else None, bound_path=p.path.value if binds else None,
            signed_up=p.kind.value == "signup", purchases=int(p.kind.value == "purchase")))
        _merge_into(out, (e.tenant_id, p.campaign_id, p.referrer_id), CustomerFact(generation=p.generation - 1))
    return out


def from_full_refunds(reversals: Iterable[tuple[str, str, str]]) -> dict[CustomerKey, CustomerFact]:
    """(tenant, campaign, referee) of each attributed purchase refunded in full for the first time."""
    out: dict[CustomerKey, CustomerFact] = {}
    for key in reversals:
        _merge_into(out, key, CustomerFact(refunded_purchases=1))
    return out


class LinkFact(NamedTuple):
    campaign_id: str
    sharer_id: str
    shared: int = 0
    shared_on: date | None = None
    channel: str | None = None
    message_variant: str | None = None
    sharer_segment: str | None = None
    sentiment: int | None = None
    clicks: int = 0


def links_from_shares(shares: Iterable[Envelope[ShareRecorded]]) -> dict[LinkKey, LinkFact]:
    """One link per code; a share repeated in the batch is the same link."""
    return {(e.tenant_id, e.payload.referral_code): LinkFact(
        e.payload.campaign_id, e.payload.sharer_id, 1, e.occurred_at.astimezone(timezone.utc).date(),
        e.payload.channel.value, e.payload.message_variant, e.payload.sharer_segment, e.payload.sentiment)
        for e in shares}


def link_clicks(clicks: Iterable[tuple[str, str, str, str]]) -> dict[LinkKey, LinkFact]:
    """Clicks per link from (tenant, code, campaign, sharer) of each new click."""
    out: dict[LinkKey, LinkFact] = {}
    for tenant, code, campaign, sharer in clicks:
        key = (tenant, code)
        out[key] = out[key]._replace(clicks=out[key].clicks + 1) if key in out else LinkFact(campaign, sharer, clicks=1)
    return out
