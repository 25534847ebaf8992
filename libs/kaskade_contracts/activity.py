"""What customers did, as share-ingest recorded it: shares, clicks, conversions and refunds."""
from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, register
from kaskade_contracts.fields import CampaignId, Currency, CustomerId, KeyedHash, MinorUnits, ReferralCode
from kaskade_contracts.intake import _ConversionFields, _RefundFields, _ShareFields


@register
class ShareRecorded(_ShareFields):
    """A customer shared a referral link; carries the code and URL Kaskade issued."""
    event_type: ClassVar[str] = "ShareRecorded"
    topic: ClassVar[str] = topics.SHARES.name
    referral_code: ReferralCode
    referral_url: str = Field(max_length=2048, examples=["https://go.example.com/r/q8ZbN2xk4T"])
    sharer_email_hash: KeyedHash | None = Field(
        default=None, description="Keyed hash of the sharer's email when share-ingest knows their profile; "
                                  "lets attribution spot self-referrals under another customer id.")
    sharer_segment: str | None = Field(default=None, max_length=64, description="The sharer's segment from their "
                                                                               "profile, for analytics.")


@register
class LinkClicked(Payload):
    """A person (not a link-preview bot) followed a referral link."""
    event_type: ClassVar[str] = "LinkClicked"
    topic: ClassVar[str] = topics.CLICKS.name
    click_id: uuid.UUID
    referral_code: ReferralCode
    campaign_id: CampaignId
    sharer_id: CustomerId
    visitor_id: str = Field(max_length=64, description="First-party cookie id of the visitor.")
    ip_hash: str = Field(max_length=128, description="Keyed hash of the visitor's IP; the IP itself is never stored.")
    user_agent: str = Field(default="", max_length=512)
    referer: str = Field(default="", max_length=2048)

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.referral_code}"


@register
class ConversionRecorded(_ConversionFields):
    """A signup or purchase was recorded by share-ingest."""
    event_type: ClassVar[str] = "ConversionRecorded"
    topic: ClassVar[str] = topics.CONVERSIONS.name
    customer_email_hash: KeyedHash | None = Field(
        default=None, description="Keyed hash of the customer's email when share-ingest knows their profile.")
    customer_segment: str | None = Field(default=None, max_length=64, description="The customer's segment from "
                                                                                 "their profile, for analytics.")


@register
class RefundRecorded(_RefundFields):
    """A conversion was refunded or cancelled; on the conversions topic, after the conversion."""
    event_type: ClassVar[str] = "RefundRecorded"
    topic: ClassVar[str] = topics.CONVERSIONS.name
    campaign_id: CampaignId
    customer_id: CustomerId
    currency: Currency
    refunded_total_minor: MinorUnits = Field(description="All refunds of the conversion so far, this one included.")
    full: bool = Field(description="True once nothing of the conversion's amount is left.")

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.customer_id}"
