"""A refund of an attributed conversion becomes its reversal, full or partial."""
from __future__ import annotations

import uuid

from attribution.reversal import Attributed, reversal
from kaskade_contracts.events import RefundKind, RefundRecorded

SALE = Attributed("spring", "ben", "anna", 5000, "EUR")


def refund(amount: int, total: int, full: bool, kind: RefundKind = RefundKind.refund) -> RefundRecorded:
    return RefundRecorded(refund_id=uuid.uuid4(), conversion_id=uuid.uuid4(), kind=kind, amount_minor=amount,
                          campaign_id="default", customer_id="ben", currency="EUR", refunded_total_minor=total,
                          full=full)


def test_a_partial_refund_is_a_partial_reversal() -> None:
    r = refund(1500, 1500, False)

    v = reversal(r, SALE)

    assert (v.conversion_id, v.refund_id, v.campaign_id) == (r.conversion_id, r.refund_id, "spring")
    assert (v.referee_id, v.referrer_id) == ("ben", "anna")
    assert (v.amount_minor, v.refunded_total_minor, v.conversion_amount_minor, v.full) == (1500, 1500, 5000, False)


def test_the_last_refund_is_a_full_reversal() -> None:
    v = reversal(refund(3500, 5000, True, RefundKind.cancellation), SALE)
    assert (v.amount_minor, v.refunded_total_minor, v.full, v.kind) == (3500, 5000, True, RefundKind.cancellation)
