"""The small vocabulary every contract shares: ids, amounts and the enumerations of the referral domain."""
from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

CustomerId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s\x00]+$",
                                  description="The tenant's own id for the customer.", examples=["cust-4711"])]
CampaignId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                                  description="Campaign id, unique per tenant.", examples=["default"])]
ReferralCode = Annotated[str, Field(min_length=6, max_length=32, pattern=r"^[A-Za-z0-9_-]+$",
                                    description="Unguessable, URL-safe referral code.", examples=["q8ZbN2xk4T"])]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code (PTS for points).",
                                examples=["EUR"])]
MinorUnits = Annotated[int, Field(ge=0, le=10**12, description="Amount in the currency's minor unit (cents).",
                                  examples=[4999])]
KeyedHash = Annotated[str, Field(max_length=128, pattern=r"^[0-9a-f]+$",
                                 description="Keyed hash (HMAC) of personal data; the data itself never travels.")]


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


class RefundKind(StrEnum):
    refund = "refund"
    cancellation = "cancellation"


class Locale(StrEnum):
    en = "en"
    de = "de"


class RewardKind(StrEnum):
    account_credit = "account_credit"
    discount_code = "discount_code"
    points = "points"
