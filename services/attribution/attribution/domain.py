"""Attribution rules: who referred a converting customer, at which generation, and whether the
referral is refused. Pure: lookups are done before, persistence after, by the handler."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from kaskade_contracts.events import (AttributionPath, AttributionRejected, ConversionAttributed,
                                      ConversionRecorded, ConversionUnattributed, RejectionReason)


@dataclass(frozen=True, slots=True)
class Link:
    """What a referral code points at."""
    campaign_id: str
    sharer_id: str


@dataclass(frozen=True, slots=True)
class Binding:
    """A referee bound to their referrer: one edge of the cascade."""
    referee_id: str
    referrer_id: str
    root_seeder_id: str
    generation: int
    conversion_id: uuid.UUID
    parent_conversion_id: uuid.UUID | None
    upline: tuple[str, ...]  # the referrer's ancestors, root first, ending with the referrer
    campaign_id: str


class Outcome(StrEnum):
    attributed = "attributed"
    unattributed = "unattributed"
    rejected = "rejected"
    held = "held"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    fact: ConversionAttributed | ConversionUnattributed | AttributionRejected | None = None
    new_binding: Binding | None = None


def decide(conv: ConversionRecorded, *, referee_binding: Binding | None, link: Link | None,
           referrer_binding: Binding | None, outside_window: bool = False, via_click: bool | None = None) -> Decision:
    """Decide one conversion. `link` is what its click or code resolved to (None if not yet known);
    `referrer_binding` is the binding of that link's sharer, if the sharer was referred themselves;
    `outside_window` says its only link is a click older than the campaign's attribution window;
    `via_click` says whether the link was found through the click (default: whether it has one)."""
    if referee_binding is not None:
        # Customer lock: a bound referee's later conversions belong to the same referrer.
        return Decision(Outcome.attributed, _attributed(conv, referee_binding, AttributionPath.bound_customer))
    if conv.click_id is None and conv.referral_code is None:
        return _unattributed(conv, "no_referral_link")
    if outside_window:
        return _unattributed(conv, "outside_attribution_window")
    if link is None:
        return Decision(Outcome.held)
    referrer = link.sharer_id
    if referrer == conv.customer_id:
        return _rejected(conv, link, RejectionReason.self_referral)
    upline = (referrer_binding.upline if referrer_binding else ()) + (referrer,)
    if conv.customer_id in upline:
        return _rejected(conv, link, RejectionReason.referral_ring)
    binding = Binding(
        referee_id=conv.customer_id, referrer_id=referrer,
        root_seeder_id=referrer_binding.root_seeder_id if referrer_binding else referrer,
        generation=referrer_binding.generation + 1 if referrer_binding else 1,
        conversion_id=conv.conversion_id,
        parent_conversion_id=referrer_binding.conversion_id if referrer_binding else None,
        upline=upline, campaign_id=link.campaign_id)
    if via_click is None:
        via_click = conv.click_id is not None
    path = AttributionPath.click if via_click else AttributionPath.referral_code
    return Decision(Outcome.attributed, _attributed(conv, binding, path), new_binding=binding)


def outside_window(clicked_at: datetime, converted_at: datetime, window_days: int) -> bool:
    return converted_at - clicked_at > timedelta(days=window_days)


def _unattributed(conv: ConversionRecorded, reason: str) -> Decision:
    return Decision(Outcome.unattributed, ConversionUnattributed(
        conversion_id=conv.conversion_id, campaign_id=conv.campaign_id, customer_id=conv.customer_id, reason=reason))


def expired(conv: ConversionRecorded) -> ConversionUnattributed:
    """A held conversion whose click or code never showed up within the grace period."""
    reason = "unknown_click" if conv.click_id is not None else "unknown_referral_code"
    return ConversionUnattributed(conversion_id=conv.conversion_id, campaign_id=conv.campaign_id,
                                  customer_id=conv.customer_id, reason=reason)


def _attributed(conv: ConversionRecorded, b: Binding, path: AttributionPath) -> ConversionAttributed:
    return ConversionAttributed(
        conversion_id=conv.conversion_id, campaign_id=b.campaign_id, kind=conv.kind,
        amount_minor=conv.amount_minor, currency=conv.currency, referee_id=conv.customer_id,
        referrer_id=b.referrer_id, root_seeder_id=b.root_seeder_id, generation=b.generation,
        parent_conversion_id=b.parent_conversion_id, path=path)


def _rejected(conv: ConversionRecorded, link: Link, reason: RejectionReason) -> Decision:
    return Decision(Outcome.rejected, AttributionRejected(
        conversion_id=conv.conversion_id, campaign_id=link.campaign_id, referee_id=conv.customer_id,
        referrer_id=link.sharer_id, reason=reason))
