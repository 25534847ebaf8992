"""Intake commands: what a product backend asks share-ingest to record, over HTTP or the intake topic.

The `_…Fields` bases are shared with the facts share-ingest publishes once a command is accepted.
"""
from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, register
from kaskade_contracts.fields import (CampaignId, Channel, ConversionKind, Currency, CustomerId, MinorUnits,
                                      ReferralCode, RefundKind)


class _ShareFields(Payload):
    share_id: uuid.UUID = Field(description="The backend's id for this share; repeating it returns the same code.")
    campaign_id: CampaignId = "default"
    sharer_id: CustomerId
    channel: Channel
    message_variant: str | None = Field(default=None, max_length=64, examples=["summer-a"])
    sentiment: int | None = Field(default=None, ge=-2, le=2,
                                  description="What the sharer said of the product: -2 (very negative) .. 2.")

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.sharer_id}"


class _ConversionFields(Payload):
    conversion_id: uuid.UUID = Field(description="The backend's id for this conversion; idempotent per tenant. "
                                                 "A time-ordered UUIDv7 keeps the rows keyed by it (conversions, "
                                                 "rewards) cheap to write as they grow.")
    campaign_id: CampaignId = "default"
    customer_id: CustomerId = Field(description="The converting (possibly referred) customer.")
    kind: ConversionKind
    order_id: str | None = Field(default=None, max_length=128)
    amount_minor: MinorUnits = 0
    currency: Currency = "EUR"
    referral_code: ReferralCode | None = Field(default=None, description="Code typed at checkout or from the link.")
    click_id: uuid.UUID | None = Field(default=None, description="Click id the redirect appended to the landing URL.")

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.customer_id}"


class _ClickFields(Payload):
    click_id: uuid.UUID = Field(description="The backend's id for this click; idempotent per tenant.")
    referral_code: ReferralCode
    visitor_id: str = Field(min_length=1, max_length=64, description="First-party cookie id of the visitor.")
    user_agent: str = Field(default="", max_length=512)
    referer: str = Field(default="", max_length=2048)

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.referral_code}"


class _RefundFields(Payload):
    refund_id: uuid.UUID = Field(description="The backend's id for this refund; idempotent per tenant.")
    conversion_id: uuid.UUID = Field(description="The conversion being refunded or cancelled.")
    kind: RefundKind = RefundKind.refund
    amount_minor: MinorUnits = Field(description="Refunded amount; at most what is left of the conversion.")


@register
class RecordShare(_ShareFields):
    """Intake command: a product backend asks Kaskade to record a share."""
    event_type: ClassVar[str] = "RecordShare"
    topic: ClassVar[str] = topics.INTAKE.name


@register
class RecordConversion(_ConversionFields):
    """Intake command: a product backend reports a signup or purchase."""
    event_type: ClassVar[str] = "RecordConversion"
    topic: ClassVar[str] = topics.INTAKE.name


@register
class RecordClick(_ClickFields):
    """Intake command: a backend that tracks clicks itself reports one."""
    event_type: ClassVar[str] = "RecordClick"
    topic: ClassVar[str] = topics.INTAKE.name
    ip: str = Field(default="", max_length=64, description="Visitor IP; only a keyed hash of it is kept.")


@register
class RecordRefund(_RefundFields):
    """Intake command: a conversion was refunded or cancelled, fully or in part."""
    event_type: ClassVar[str] = "RecordRefund"
    topic: ClassVar[str] = topics.INTAKE.name


INTAKE_COMMANDS: tuple[type[Payload], ...] = (RecordShare, RecordClick, RecordConversion, RecordRefund)
