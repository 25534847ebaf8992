"""A campaign's definition: the terms a tenant sets, and the compacted event that carries them.

Each service keeps the part of the terms it needs: attribution the window, model and fraud rules;
reward the rules, budget and holding period; notification the email settings.
"""
from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field, HttpUrl

from kaskade_contracts import topics
from kaskade_contracts.envelope import Contract, Payload, register
from kaskade_contracts.fields import CampaignId, Currency, Locale, MinorUnits, RewardKind


class CampaignStatus(StrEnum):
    active = "active"
    paused = "paused"
    ended = "ended"


class AttributionModel(StrEnum):
    last_click = "last_click"
    first_click = "first_click"


class RewardRule(Contract):
    """What one side of a referral earns per referred purchase: a fixed amount or a share of it."""
    kind: RewardKind = RewardKind.account_credit
    amount_minor: MinorUnits = Field(default=0, description="Fixed amount in the campaign currency "
                                                            "(in points when kind is points).")
    percent_bps: int = Field(default=0, ge=0, le=10_000,
                             description="Share of the purchase amount in basis points (500 = 5%); "
                                         "added to amount_minor.")


class Milestone(Contract):
    """A bonus for the referrer's n-th successful referral in the campaign (e.g. the 3rd and the 10th)."""
    referrals: int = Field(ge=1, le=100_000, description="Paid when this many of the referrer's referrals "
                                                         "have been rewarded.")
    reward: RewardRule


class ShareReward(Contract):
    """A reward for sharing itself, capped so that spamming shares earns nothing more."""
    reward: RewardRule
    max_per_period: int = Field(default=1, ge=1, le=1_000, description="Rewarded shares per customer per period.")
    period_days: int = Field(default=30, ge=1, le=365)


class CascadeReward(Contract):
    """Upline rewards: the referrer's own referrer earns `fraction_bps` of the referrer reward, their
    referrer the same fraction of that, and so on up to `max_depth` levels."""
    fraction_bps: int = Field(ge=1, le=10_000, examples=[2_000])
    max_depth: int = Field(default=1, ge=1, le=10)


class ReferrerCap(Contract):
    """Limits on what one referrer earns from referrals in a rolling period; rewards beyond are declined."""
    max_rewards: int | None = Field(default=None, ge=1, description="Referral rewards per period.")
    max_amount_minor: MinorUnits | None = Field(default=None, description="Referral reward amount per period.")
    period_days: int = Field(default=30, ge=1, le=3_650)


class FraudRules(Contract):
    """Which referrals attribution refuses; every refusal is published as AttributionRejected."""
    reject_self_referral: bool = Field(default=True, description="Same customer, or the referrer's hashed email, "
                                                                 "visitor or IP on the referee's side.")
    reject_rings: bool = True
    reject_duplicate_orders: bool = Field(default=True, description="A second conversion with an order id "
                                                                    "already attributed.")
    flood_window_seconds: int = Field(default=3_600, ge=1, le=7 * 86_400)
    max_clicks_per_visitor: int = Field(default=20, ge=1, description="Clicks per visitor within the flood window; "
                                                                      "beyond it the visitor's conversions are "
                                                                      "refused as click flooding.")
    max_clicks_per_ip: int = Field(default=100, ge=1)
    min_click_to_conversion_seconds: int = Field(default=10, ge=0, le=86_400,
                                                 description="Faster conversions are refused as click injection; "
                                                             "0 turns the check off.")


class CampaignTerms(Contract):
    """Everything a tenant defines about a campaign; each service keeps the part it needs."""
    name: str = Field(default="", max_length=200)
    landing_url: HttpUrl = Field(description="Where referral links send visitors.",
                                 examples=["https://shop.example.com/welcome"])
    attribution_window_days: int = Field(default=30, ge=1, le=365,
                                         description="How long after a click a conversion still counts.")
    attribution_model: AttributionModel = AttributionModel.last_click
    fraud: FraudRules = Field(default_factory=FraudRules)
    referrer_reward: RewardRule = Field(default_factory=lambda: RewardRule(amount_minor=500))
    referee_reward: RewardRule = Field(default_factory=RewardRule)
    share_reward: ShareReward | None = None
    milestones: list[Milestone] = Field(default_factory=list, max_length=20)
    cascade: CascadeReward | None = None
    referrer_cap: ReferrerCap | None = None
    holding_days: int = Field(default=14, ge=0, le=365, description="Rewards stay pending this long after the "
                                                                    "purchase (the refund window).")
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
