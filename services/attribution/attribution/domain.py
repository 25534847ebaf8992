"""Attribution rules: who referred a converting customer, at which generation, and whether the
referral is refused. Pure: lookups are done before, persistence after, by the handler."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from attribution import fraud
from attribution.fraud import Click, Signals
from kaskade_contracts.events import (AttributionModel, AttributionPath, AttributionRejected, ConversionAttributed,
                                      ConversionRecorded, ConversionUnattributed, FraudRules, ReferralReparented,
                                      RejectionReason)

UPLINE_MAX = 10


class Link(NamedTuple):
    """What a referral code points at."""
    campaign_id: str
    sharer_id: str
    sharer_email_hash: str | None = None


class Binding(NamedTuple):
    """A referee bound to their referrer: one edge of the cascade."""
    referee_id: str
    referrer_id: str
    root_seeder_id: str
    generation: int
    conversion_id: uuid.UUID
    parent_conversion_id: uuid.UUID | None
    upline: tuple[str, ...]  # the referrer's ancestors, root first, ending with the referrer
    campaign_id: str


@dataclass(frozen=True, slots=True)
class Terms:
    """A campaign's attribution terms (the defaults until its definition arrives)."""
    window_days: int = 30
    model: AttributionModel = AttributionModel.last_click
    fraud: FraudRules = FraudRules()


DEFAULT_TERMS = Terms()
NO_SIGNALS = Signals()


class Outcome(StrEnum):
    attributed = "attributed"
    unattributed = "unattributed"
    rejected = "rejected"
    held = "held"


class Decision(NamedTuple):
    outcome: Outcome
    fact: ConversionAttributed | ConversionUnattributed | AttributionRejected | None = None
    new_binding: Binding | None = None


def decide(conv: ConversionRecorded, *, referee_binding: Binding | None, link: Link | None,
           referrer_binding: Binding | None, outside_window: bool = False, via_click: bool | None = None,
           click: Click | None = None, converted_at: datetime | None = None, terms: Terms = DEFAULT_TERMS,
           signals: Signals = NO_SIGNALS) -> Decision:
    """Decide one conversion. `link` is what its click or code resolved to (None if not yet known);
    `referrer_binding` is the binding of that link's sharer, if the sharer was referred themselves;
    `outside_window` says its only link is a click older than the campaign's attribution window;
    `via_click` says whether the link was found through `click` (default: whether it has a click id);
    `terms` are those of the campaign the referral belongs to (the link's, or the bound referee's)."""
    rules = terms.fraud
    if referee_binding is not None:
        # Customer lock: a bound referee's later conversions belong to the same referrer.
        if (v := fraud.duplicate_order(conv, signals, rules)) is not None:
            return _rejected(conv, referee_binding.campaign_id, referee_binding.referrer_id, v)
        return Decision(Outcome.attributed, _attributed(conv, referee_binding, AttributionPath.bound_customer))
    if conv.click_id is None and conv.referral_code is None:
        return _unattributed(conv, "no_referral_link")
    if outside_window:
        return _unattributed(conv, "outside_attribution_window")
    if link is None:
        return Decision(Outcome.held)
    if via_click is None:
        via_click = conv.click_id is not None
    used_click = click if via_click else None
    referrer = link.sharer_id
    upline = (referrer_binding.upline if referrer_binding else ()) + (referrer,)
    ring = conv.customer_id in upline
    # The first rule that objects names the rejection (a verdict is a non-empty tuple, or None).
    verdict = (fraud.self_referral(conv, referrer, link.sharer_email_hash, used_click, signals, rules)
               or ((RejectionReason.referral_ring, f"{conv.customer_id} is in the referrer's upline"[:256])
                   if ring and rules.reject_rings else None)
               or fraud.duplicate_order(conv, signals, rules)
               or (fraud.click_injection(converted_at, used_click, rules) if converted_at else None)
               or fraud.click_flooding(used_click, signals, rules))
    if verdict is not None:
        return _rejected(conv, link.campaign_id, referrer, verdict)
    path = AttributionPath.click if via_click else AttributionPath.referral_code
    if ring:
        # Rings allowed by the campaign: the referrer is credited, but a cycle never enters the cascade.
        alone = Binding(conv.customer_id, referrer, referrer, 1, conv.conversion_id, None, (referrer,),
                        link.campaign_id)
        return Decision(Outcome.attributed, _attributed(conv, alone, path))
    binding = Binding(
        referee_id=conv.customer_id, referrer_id=referrer,
        root_seeder_id=referrer_binding.root_seeder_id if referrer_binding else referrer,
        generation=referrer_binding.generation + 1 if referrer_binding else 1,
        conversion_id=conv.conversion_id,
        parent_conversion_id=referrer_binding.conversion_id if referrer_binding else None,
        upline=upline, campaign_id=link.campaign_id)
    return Decision(Outcome.attributed, _attributed(conv, binding, path), new_binding=binding)


def choose_click(model: AttributionModel, own: Click, earliest: Click | None) -> Click:
    """The click a first-time referral is credited to: the conversion's own (last) click, or under
    first click the visitor's earliest click of the campaign within the window."""
    if model is AttributionModel.first_click and earliest is not None and earliest.clicked_at < own.clicked_at:
        return earliest
    return own


def outside_window(clicked_at: datetime, converted_at: datetime, window_days: int) -> bool:
    return converted_at - clicked_at > timedelta(days=window_days)


def event_upline(binding_upline: tuple[str, ...]) -> list[str]:
    """The referrer's own referrers, nearest first: what ConversionAttributed carries."""
    return list(reversed(binding_upline[:-1]))[:UPLINE_MAX]


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
        parent_conversion_id=b.parent_conversion_id, path=path, upline=event_upline(b.upline))


def reparented(b: Binding) -> ReferralReparented:
    return ReferralReparented(campaign_id=b.campaign_id, referee_id=b.referee_id, referrer_id=b.referrer_id,
                              conversion_id=b.conversion_id, root_seeder_id=b.root_seeder_id, generation=b.generation,
                              parent_conversion_id=b.parent_conversion_id, upline=event_upline(b.upline))


def _rejected(conv: ConversionRecorded, campaign_id: str, referrer_id: str,
              verdict: tuple[RejectionReason, str]) -> Decision:
    reason, detail = verdict
    return Decision(Outcome.rejected, AttributionRejected(
        conversion_id=conv.conversion_id, campaign_id=campaign_id, referee_id=conv.customer_id,
        referrer_id=referrer_id, reason=reason, detail=detail))
