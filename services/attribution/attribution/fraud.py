"""Fraud rules: which referrals a campaign refuses, and why. Pure; the handler gathers the signals.

Each check returns the rejection reason and a short detail for the reviewer, or None.
"""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from kaskade_contracts.events import ConversionRecorded, FraudRules, RejectionReason

Verdict = tuple[RejectionReason, str] | None


class Click(NamedTuple):
    """A stored click: the code it followed and who clicked (cookie visitor id, hashed IP)."""
    click_id: uuid.UUID
    referral_code: str
    visitor_id: str
    ip_hash: str
    clicked_at: datetime
    campaign_id: str | None = None


class Signals(NamedTuple):
    """What the handler looked up about one conversion's referral, beyond the link itself."""
    # The referral's click came from a device the referrer converted from themselves:
    referrer_visitor: bool = False  # the same cookie visitor id
    referrer_ip: bool = False  # the same IP hash
    clicks_by_visitor: int = 0  # in the flood window before the conversion, capped at the limit + 1
    clicks_by_ip: int = 0
    order_attributed_to: uuid.UUID | None = None  # another conversion that already has this order id


def self_referral(conv: ConversionRecorded, referrer_id: str, sharer_email_hash: str | None, click: Click | None,
                  s: Signals, rules: FraudRules) -> Verdict:
    # The same customer id is refused whatever the rules say: a binding to oneself is no referral.
    if referrer_id == conv.customer_id:
        return RejectionReason.self_referral, "same_customer_id"
    if not rules.reject_self_referral:
        return None
    if conv.customer_email_hash and conv.customer_email_hash == sharer_email_hash:
        return RejectionReason.self_referral, "same_email_hash"
    if click is not None and s.referrer_visitor:
        return RejectionReason.self_referral, "same_visitor_id_as_referrer"
    if click is not None and s.referrer_ip:
        return RejectionReason.self_referral, "same_ip_hash_as_referrer"
    return None


def duplicate_order(conv: ConversionRecorded, s: Signals, rules: FraudRules) -> Verdict:
    if rules.reject_duplicate_orders and conv.order_id and s.order_attributed_to not in (None, conv.conversion_id):
        return RejectionReason.duplicate_conversion, f"order_id={conv.order_id} of {s.order_attributed_to}"[:256]
    return None


def click_injection(conv_at: datetime, click: Click | None, rules: FraudRules) -> Verdict:
    if click is None or rules.min_click_to_conversion_seconds <= 0:
        return None
    seconds = (conv_at - click.clicked_at).total_seconds()
    if seconds < rules.min_click_to_conversion_seconds:
        return (RejectionReason.click_injection,
                f"click_to_conversion={seconds:.1f}s<{rules.min_click_to_conversion_seconds}s")
    return None


def click_flooding(click: Click | None, s: Signals, rules: FraudRules) -> Verdict:
    if click is None:
        return None
    if s.clicks_by_visitor > rules.max_clicks_per_visitor:
        return RejectionReason.click_flooding, f"clicks_per_visitor={s.clicks_by_visitor}>{rules.max_clicks_per_visitor}"
    if s.clicks_by_ip > rules.max_clicks_per_ip:
        return RejectionReason.click_flooding, f"clicks_per_ip={s.clicks_by_ip}>{rules.max_clicks_per_ip}"
    return None
