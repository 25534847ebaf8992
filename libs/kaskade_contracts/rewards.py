"""The public reward topic: what downstream systems (shops, billing, loyalty) consume and act on.

Every event names the reward id; downstream systems deduplicate on it and on the event id.
"""
from __future__ import annotations

import uuid
from enum import StrEnum
from typing import ClassVar

from pydantic import AwareDatetime, Field

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, register
from kaskade_contracts.fields import CampaignId, Currency, CustomerId, MinorUnits, RewardKind


class RewardRole(StrEnum):
    referrer = "referrer"
    referee = "referee"
    sharer = "sharer"
    upline = "upline"


class _RewardFields(Payload):
    reward_id: uuid.UUID = Field(description="Stable id of the reward; downstream systems deduplicate on it.")
    idempotency_key: str = Field(max_length=128, description="Derived from campaign, conversion (or share), "
                                                             "rule and recipient.")
    campaign_id: CampaignId
    conversion_id: uuid.UUID | None = Field(default=None, description="The purchase rewarded; none for a share "
                                                                      "reward.")
    share_id: uuid.UUID | None = Field(default=None, description="The share rewarded, for a share reward.")
    rule_id: str = Field(max_length=64, examples=["referrer"])
    recipient_id: CustomerId
    role: RewardRole
    amount_minor: MinorUnits
    currency: Currency

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.recipient_id}"


@register
class RewardGranted(_RewardFields):
    """A reward was granted and booked in the ledger, pending until its hold ends."""
    event_type: ClassVar[str] = "RewardGranted"
    topic: ClassVar[str] = topics.REWARDS.name
    kind: RewardKind
    generation: int = Field(ge=0, description="Generation of the rewarded referral; 0 for a share reward.")
    discount_code: str | None = Field(default=None, max_length=32, description="For kind discount_code: the "
                                                                               "unguessable code to redeem.")
    status: str = Field(default="pending", examples=["pending", "confirmed"],
                        description="pending until hold_until; confirmed at once when there is no hold.")
    hold_until: AwareDatetime | None = Field(default=None, description="When the refund window ends.")


@register
class RewardConfirmed(_RewardFields):
    """A pending reward's hold ended without a refund: it is final and may be paid out or redeemed."""
    event_type: ClassVar[str] = "RewardConfirmed"
    topic: ClassVar[str] = topics.REWARDS.name
    kind: RewardKind
    discount_code: str | None = Field(default=None, max_length=32)


@register
class RewardRevoked(_RewardFields):
    """A reward was taken back (in full or in part) because its purchase was refunded or its attribution
    reversed. `amount_minor` is what is revoked now."""
    event_type: ClassVar[str] = "RewardRevoked"
    topic: ClassVar[str] = topics.REWARDS.name
    remaining_minor: MinorUnits = Field(description="What is left of the reward after this revocation.")
    reason: str = Field(max_length=64, examples=["refund", "cancellation"])
    compensated: bool = Field(description="True when the reward had been confirmed, so a compensating "
                                          "ledger entry reverses it.")


@register
class RewardDeclined(_RewardFields):
    """A reward a rule called for was not granted (e.g. the campaign budget is exhausted)."""
    event_type: ClassVar[str] = "RewardDeclined"
    topic: ClassVar[str] = topics.REWARDS.name
    reason: str = Field(examples=["budget_exhausted", "campaign_not_active", "referrer_cap"])


class _BudgetFields(Payload):
    campaign_id: CampaignId
    budget_minor: MinorUnits
    committed_minor: MinorUnits = Field(description="Granted and not revoked, pending or confirmed.")
    currency: Currency

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.campaign_id}"


@register
class CampaignBudgetWarning(_BudgetFields):
    """A campaign crossed 80% or 95% of its budget; published once per threshold."""
    event_type: ClassVar[str] = "CampaignBudgetWarning"
    topic: ClassVar[str] = topics.REWARDS.name
    threshold_percent: int = Field(examples=[80, 95])


@register
class CampaignBudgetExhausted(_BudgetFields):
    """A reward was declined because the budget could not cover it; published once per campaign budget."""
    event_type: ClassVar[str] = "CampaignBudgetExhausted"
    topic: ClassVar[str] = topics.REWARDS.name
