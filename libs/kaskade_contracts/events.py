"""Payloads of every Kaskade event and intake command.

Facts are past tense; intake commands (what a product backend asks share-ingest to record) are
imperative. Amounts are integers in the currency's minor unit, never floats.
"""
from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AwareDatetime, Field, HttpUrl

from kaskade_contracts import topics
from kaskade_contracts.envelope import Contract, Payload, register

CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00]+$",
                                  description="The tenant's own id for the customer.", examples=["cust-4711"])]
CampaignId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                  description="Campaign id, unique per tenant.", examples=["default"])]
ReferralCode = Annotated[str, Field(min_length=6, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="Unguessable, URL-safe referral code.", examples=["q8ZbN2xk4T"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.", examples=["EUR"])]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="Amount in the currency's minor unit (cents).",
                                  examples=[4999])]


class Channel(StrEnum):
    facebook = "facebook"
    linkedin = "linkedin"
    x = "x"
    whatsapp = "whatsapp"
    email = "email"
    sms = "sms"
    copy_link = "copy_link"
    other = "other"


class ConversionKind(StrEnum):
    signup = "signup"
    purchase = "purchase"


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
    conversion_id: uuid.UUID = Field(description="The backend's id for this conversion; idempotent per tenant.")
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


class RefundKind(StrEnum):
    refund = "refund"
    cancellation = "cancellation"


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


@register
class ShareRecorded(_ShareFields):
    """A customer shared a referral link; carries the code and URL Kaskade issued."""
    event_type: ClassVar[str] = "ShareRecorded"
    topic: ClassVar[str] = topics.SHARES.name
    referral_code: ReferralCode
    referral_url: str = Field(max_length=2048, examples=["https://go.example.com/r/q8ZbN2xk4T"])


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


class AttributionPath(StrEnum):
    click = "click"
    referral_code = "referral_code"
    bound_customer = "bound_customer"


@register
class ConversionAttributed(Payload):
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

    def partition_key(self, tenant_id: str) -> str:
        # All rewards of a campaign hit one budget: keep them in one partition, one writer.
        return f"{tenant_id}:{self.campaign_id}"


@register
class ConversionUnattributed(Payload):
    """A conversion carried no usable link to a referrer; recorded, not an error."""
    event_type: ClassVar[str] = "ConversionUnattributed"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    conversion_id: uuid.UUID
    campaign_id: CampaignId
    customer_id: CustomerId
    reason: str = Field(examples=["no_referral_link", "unknown_referral_code"])

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.campaign_id}"


class RejectionReason(StrEnum):
    self_referral = "self_referral"
    referral_ring = "referral_ring"
    duplicate_conversion = "duplicate_conversion"


@register
class AttributionRejected(Payload):
    """A conversion's referral was refused as fraudulent; kept for review."""
    event_type: ClassVar[str] = "AttributionRejected"
    topic: ClassVar[str] = topics.ATTRIBUTIONS.name
    conversion_id: uuid.UUID
    campaign_id: CampaignId
    referee_id: CustomerId
    referrer_id: CustomerId
    reason: RejectionReason

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.campaign_id}"


class RewardKind(StrEnum):
    account_credit = "account_credit"
    discount_code = "discount_code"
    points = "points"


class CampaignStatus(StrEnum):
    active = "active"
    paused = "paused"
    ended = "ended"


class AttributionModel(StrEnum):
    last_click = "last_click"
    first_click = "first_click"


class Locale(StrEnum):
    en = "en"
    de = "de"


class RewardRule(Contract):
    """What one side of a referral earns per referred purchase: a fixed amount or a share of it."""
    kind: RewardKind = RewardKind.account_credit
    amount_minor: MinorUnits = Field(default=0, description="Fixed amount in the campaign currency.")
    percent_bps: int = Field(default=0, ge=0, le=10_000,
                             description="Share of the purchase amount in basis points (500 = 5%); "
                                         "added to amount_minor.")


class CampaignTerms(Contract):
    """Everything a tenant defines about a campaign; each service keeps the part it needs."""
    name: str = Field(default="", max_length=200)
    landing_url: HttpUrl = Field(description="Where referral links send visitors.",
                                 examples=["https://shop.example.com/welcome"])
    attribution_window_days: int = Field(default=30, ge=1, le=365,
                                         description="How long after a click a conversion still counts.")
    attribution_model: AttributionModel = AttributionModel.last_click
    referrer_reward: RewardRule = Field(default_factory=lambda: RewardRule(amount_minor=500))
    referee_reward: RewardRule = Field(default_factory=RewardRule)
    currency: Currency = "EUR"
    budget_minor: MinorUnits = Field(default=100_000_000, description="Total the campaign may pay out.")
    notify_by_email: bool = True
    default_locale: Locale = Locale.en


@register
class CampaignDefined(Payload):
    """The latest definition of a campaign. Compacted topic: later versions win."""
    event_type: ClassVar[str] = "CampaignDefined"
    topic: ClassVar[str] = topics.CAMPAIGNS.name
    campaign_id: CampaignId
    version: int = Field(ge=1, description="Grows with every change; consumers ignore older versions.")
    status: CampaignStatus
    terms: CampaignTerms

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.campaign_id}"


@register
class CustomerProfileUpdated(Payload):
    """A customer's contact data and preferences. Personal data: only notification consumes it."""
    event_type: ClassVar[str] = "CustomerProfileUpdated"
    topic: ClassVar[str] = topics.CUSTOMERS.name
    customer_id: CustomerId
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    locale: Locale = Locale.en
    marketing_consent: bool = False
    segment: str | None = Field(default=None, max_length=64, examples=["students"])

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.customer_id}"


@register
class CustomerErased(Payload):
    """A customer asked to be forgotten: every service removes their contact data and replaces
    their id with `replacement_id` (random, the same in every service, so the cascade stays whole)."""
    event_type: ClassVar[str] = "CustomerErased"
    topic: ClassVar[str] = topics.ERASURES.name
    ephemeral: ClassVar[bool] = True
    customer_id: CustomerId
    replacement_id: CustomerId

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.customer_id}"


class RewardRole(StrEnum):
    referrer = "referrer"
    referee = "referee"


@register
class RewardGranted(Payload):
    """A reward was granted and booked in the ledger. Public contract on kaskade.rewards.v1."""
    event_type: ClassVar[str] = "RewardGranted"
    topic: ClassVar[str] = topics.REWARDS.name
    reward_id: uuid.UUID = Field(description="Stable id of the reward; downstream systems deduplicate on it.")
    idempotency_key: str = Field(max_length=128, description="Derived from campaign, conversion, rule and recipient.")
    campaign_id: CampaignId
    conversion_id: uuid.UUID
    rule_id: str = Field(max_length=64, examples=["referrer-fixed"])
    recipient_id: CustomerId
    role: RewardRole
    kind: RewardKind
    amount_minor: MinorUnits
    currency: Currency
    generation: int = Field(ge=1)
    status: str = Field(default="pending", description="pending until the refund window has passed.",
                        examples=["pending"])

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.recipient_id}"


@register
class RewardDeclined(Payload):
    """A reward a rule called for was not granted (e.g. the campaign budget is exhausted)."""
    event_type: ClassVar[str] = "RewardDeclined"
    topic: ClassVar[str] = topics.REWARDS.name
    reward_id: uuid.UUID
    idempotency_key: str = Field(max_length=128)
    campaign_id: CampaignId
    conversion_id: uuid.UUID
    rule_id: str = Field(max_length=64)
    recipient_id: CustomerId
    role: RewardRole
    amount_minor: MinorUnits
    currency: Currency
    reason: str = Field(examples=["budget_exhausted"])

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.recipient_id}"


PUBLIC_EVENTS: tuple[type[Payload], ...] = (CampaignDefined, CustomerProfileUpdated, CustomerErased, ShareRecorded, LinkClicked, ConversionRecorded, RefundRecorded,
                                            ConversionAttributed,
                                            ConversionUnattributed, AttributionRejected, RewardGranted,
                                            RewardDeclined)
INTAKE_COMMANDS: tuple[type[Payload], ...] = (RecordShare, RecordClick, RecordConversion, RecordRefund)
