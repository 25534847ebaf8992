"""What attribution decided about each conversion: attributed, unattributed, rejected or reversed."""
from __future__ import annotations

import uuid
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, register
from kaskade_contracts.fields import CampaignId, ConversionKind, Currency, CustomerId, MinorUnits, RefundKind


class AttributionPath(StrEnum):
    click = "click"
    referral_code = "referral_code"
    bound_customer = "bound_customer"


class _CampaignKeyed(Payload):
    def partition_key(self, tenant_id: str) -> str:
        # All rewards of a campaign hit one budget: keep them in one partition, one writer.
        return f"{tenant_id}:{self.campaign_id}"  # type: ignore[attr-defined]


@register
class ConversionAttributed(_CampaignKeyed):
    """A conversion was attributed to a referrer and placed in the referral cascade."""
    event_type: ClassVar[str] = "ConversionAttributed"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    conversion_id: uuid.UUID
    campaign_id: CampaignId
    kind: ConversionKind
    amount_minor: MinorUnits
    currency: Currency
    referee_id: CustomerId
    referrer_id: CustomerId
    root_seeder_id: CustomerId = Field(description="The first-generation seeder at the top of this chain.")
    generation: int = Field(ge=1, description="1 for a seeder's direct referee, 2 for theirs, and so on.")
    parent_conversion_id: uuid.UUID | None = Field(
        default=None, description="The conversion that made the referrer a referee themselves, if any.")
    path: AttributionPath
    upline: list[CustomerId] = Field(
        default_factory=list, max_length=10,
        description="The referrer's own referrers, nearest first (at most 10); for cascade rewards.")


@register
class ReferralReparented(_CampaignKeyed):
    """A referee's place in the cascade changed after it was published: someone above them was
    referred later than their own referrals were decided (events arrive out of order across
    partitions). Carries the referee's binding as it is now; it supersedes the root seeder,
    generation, parent and upline of every earlier event about this referee. Its `occurred_at` is
    the time of the referral that caused the correction (the latest, when several did)."""
    event_type: ClassVar[str] = "ReferralReparented"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    campaign_id: CampaignId
    referee_id: CustomerId
    referrer_id: CustomerId
    conversion_id: uuid.UUID = Field(description="The conversion that bound the referee to the referrer.")
    root_seeder_id: CustomerId
    generation: int = Field(ge=1)
    parent_conversion_id: uuid.UUID | None = None
    upline: list[CustomerId] = Field(default_factory=list, max_length=10,
                                     description="The referrer's own referrers, nearest first (at most 10).")


@register
class ConversionUnattributed(_CampaignKeyed):
    """A conversion carried no usable link to a referrer; recorded, not an error."""
    event_type: ClassVar[str] = "ConversionUnattributed"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    conversion_id: uuid.UUID
    campaign_id: CampaignId
    customer_id: CustomerId
    reason: str = Field(examples=["no_referral_link", "unknown_referral_code"])


class RejectionReason(StrEnum):
    self_referral = "self_referral"
    referral_ring = "referral_ring"
    duplicate_conversion = "duplicate_conversion"
    click_flooding = "click_flooding"
    click_injection = "click_injection"


@register
class AttributionRejected(_CampaignKeyed):
    """A conversion's referral was refused as fraudulent; kept for review."""
    event_type: ClassVar[str] = "AttributionRejected"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    conversion_id: uuid.UUID
    campaign_id: CampaignId
    referee_id: CustomerId
    referrer_id: CustomerId
    reason: RejectionReason
    detail: str = Field(default="", max_length=256, description="What tripped the rule, for the reviewer.",
                        examples=["clicks_per_visitor=31>20"])


@register
class AttributionReversed(_CampaignKeyed):
    """An attributed conversion was refunded or cancelled, fully or in part: rewards paid for it
    should be revoked in proportion."""
    event_type: ClassVar[str] = "AttributionReversed"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    conversion_id: uuid.UUID
    refund_id: uuid.UUID
    campaign_id: CampaignId
    kind: RefundKind
    referee_id: CustomerId
    referrer_id: CustomerId
    amount_minor: MinorUnits = Field(description="Refunded by this refund.")
    refunded_total_minor: MinorUnits = Field(description="All refunds of the conversion so far, this one included.")
    conversion_amount_minor: MinorUnits
    currency: Currency
    full: bool = Field(description="True once nothing of the conversion's amount is left.")
