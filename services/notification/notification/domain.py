"""Which notifications a reward event calls for. Pure."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from kaskade_contracts.events import RewardGranted, RewardRole

NOTIFICATION_NAMESPACE = uuid.UUID("0b6f6d1e-7c55-4f0b-8f7e-3c9d8a2e4b10")


@dataclass(frozen=True, slots=True)
class Notification:
    notification_id: uuid.UUID
    tenant_id: str
    recipient_id: str
    channel: str
    template: str
    source_event_id: uuid.UUID
    reward_id: uuid.UUID | None
    context: dict[str, Any]


def for_reward_granted(tenant_id: str, event_id: uuid.UUID, fact: RewardGranted,
                       email: bool = True) -> list[Notification]:
    """The recipient hears of a granted reward by email, or only in the in-app feed when the
    campaign sends no email. The id is derived, so a replay is the same row."""
    template = "reward_granted_referrer" if fact.role is RewardRole.referrer else "welcome_discount_referee"
    channel = "email" if email else "feed"
    nid = uuid.uuid5(NOTIFICATION_NAMESPACE, f"{tenant_id}\x00{event_id}\x00{channel}\x00{fact.recipient_id}")
    context = {"amount_minor": fact.amount_minor, "currency": fact.currency, "campaign_id": fact.campaign_id,
               "kind": fact.kind.value, "reward_id": str(fact.reward_id)}
    return [Notification(nid, tenant_id, fact.recipient_id, channel, template, event_id, fact.reward_id, context)]
