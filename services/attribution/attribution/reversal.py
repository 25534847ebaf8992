"""Reversals: a refund or cancellation of an attributed conversion takes back what it earned. Pure."""
from __future__ import annotations

from dataclasses import dataclass

from kaskade_contracts.events import AttributionReversed, RefundRecorded


@dataclass(frozen=True, slots=True)
class Attributed:
    """An attributed conversion as recorded: enough to reverse it."""
    campaign_id: str
    referee_id: str
    referrer_id: str
    amount_minor: int
    currency: str


def reversal(refund: RefundRecorded, sale: Attributed) -> AttributionReversed:
    """The reversal of one refund; `full` and the running total are the refund's own word, so a
    reward service can revoke in proportion without summing refunds itself."""
    return AttributionReversed(
        conversion_id=refund.conversion_id, refund_id=refund.refund_id, campaign_id=sale.campaign_id,
        kind=refund.kind, referee_id=sale.referee_id, referrer_id=sale.referrer_id,
        amount_minor=refund.amount_minor, refunded_total_minor=refund.refunded_total_minor,
        conversion_amount_minor=sale.amount_minor, currency=sale.currency, full=refund.full)
