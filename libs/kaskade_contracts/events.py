"""Every Kaskade event and intake command, in one namespace.

The contracts live in one module per area (intake, activity, campaigns, customers, attributions,
rewards); this module gathers them so code and tests can say `events.RewardGranted`.
Facts are past tense; intake commands are imperative. Amounts are integers in the currency's
minor unit, never floats.
"""
from __future__ import annotations

from kaskade_contracts.activity import ConversionRecorded, LinkClicked, RefundRecorded, ShareRecorded
from kaskade_contracts.attributions import (AttributionPath, AttributionRejected, AttributionReversed,
                                            ConversionAttributed, ConversionUnattributed, ReferralReparented,
                                            RejectionReason)
from kaskade_contracts.campaigns import (AttributionModel, CampaignDefined, CampaignStatus, CampaignTerms,
                                         CascadeReward, FraudRules, Milestone, ReferrerCap, RewardRule, ShareReward)
from kaskade_contracts.customers import ApiKeyChanged, CustomerErased, CustomerProfileUpdated
from kaskade_contracts.envelope import Payload
from kaskade_contracts.fields import (CampaignId, Channel, ConversionKind, Currency, CustomerId, KeyedHash, Locale,
                                      MinorUnits, ReferralCode, RefundKind, RewardKind)
from kaskade_contracts.notifications import WebhookEndpointDisabled
from kaskade_contracts.intake import INTAKE_COMMANDS, RecordClick, RecordConversion, RecordRefund, RecordShare
from kaskade_contracts.rewards import (CampaignBudgetExhausted, CampaignBudgetWarning, RewardConfirmed,
                                       RewardDeclined, RewardGranted, RewardRevoked, RewardRole)

PUBLIC_EVENTS: tuple[type[Payload], ...] = (
    CampaignDefined, CustomerProfileUpdated, CustomerErased, ApiKeyChanged,
    ShareRecorded, LinkClicked, ConversionRecorded, RefundRecorded,
    ConversionAttributed, ConversionUnattributed, AttributionRejected, AttributionReversed, ReferralReparented,
    RewardGranted, RewardConfirmed, RewardRevoked, RewardDeclined, CampaignBudgetWarning, CampaignBudgetExhausted,
    WebhookEndpointDisabled,
)

__all__ = [
    "PUBLIC_EVENTS", "INTAKE_COMMANDS",
    "RecordShare", "RecordClick", "RecordConversion", "RecordRefund",
    "ShareRecorded", "LinkClicked", "ConversionRecorded", "RefundRecorded",
    "CampaignDefined", "CampaignTerms", "CampaignStatus", "AttributionModel", "FraudRules", "RewardRule",
    "Milestone", "ShareReward", "CascadeReward", "ReferrerCap",
    "CustomerProfileUpdated", "CustomerErased", "ApiKeyChanged",
    "ConversionAttributed", "ConversionUnattributed", "AttributionRejected", "AttributionReversed",
    "ReferralReparented", "AttributionPath", "RejectionReason",
    "RewardGranted", "RewardConfirmed", "RewardRevoked", "RewardDeclined", "RewardRole",
    "CampaignBudgetWarning", "CampaignBudgetExhausted", "WebhookEndpointDisabled",
    "CampaignId", "Channel", "ConversionKind", "Currency", "CustomerId", "KeyedHash", "Locale", "MinorUnits",
    "ReferralCode", "RefundKind", "RewardKind",
]
