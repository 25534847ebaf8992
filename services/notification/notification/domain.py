"""Which notifications a reward event calls for. Pure.

Every notification is an entry in the recipient's in-app feed. Channel `email` means it is also
emailed; `feed` means the campaign sends no email (notify_by_email false), so it is recorded
without an email job. Reward notices are transactional (they tell the customer about their own
reward), so they do not ask for marketing consent; an unsubscribe is honoured all the same (see
mail/plan.py).
"""
from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from kaskade_contracts.events import RewardConfirmed, RewardGranted, RewardRevoked, RewardRole
from kaskade_contracts.ids import derived_uuid

NOTIFICATION_NAMESPACE = uuid.UUID("0b6f6d1e-7c55-4f0b-8f7e-3c9d8a2e4b10")
RewardFact = RewardGranted | RewardConfirmed | RewardRevoked
CUSTOMER_FACING = (RewardGranted, RewardConfirmed, RewardRevoked)
TEMPLATES = ("reward_granted_referrer", "welcome_discount_referee", "reward_confirmed", "reward_revoked")


class Notification(NamedTuple):
    notification_id: uuid.UUID
    tenant_id: str
    recipient_id: str
    channel: str
    template: str
    source_event_id: uuid.UUID
    reward_id: uuid.UUID | None
    context: dict[str, Any]

    @property
    def emailed(self) -> bool:
        return self.channel == "email"


def template_for(fact: RewardFact) -> str:
    if isinstance(fact, RewardConfirmed):
        return "reward_confirmed"
    if isinstance(fact, RewardRevoked):
        return "reward_revoked"
    # Sharers and uplines earn like referrers; only the referee is welcomed with a discount.
    return "welcome_discount_referee" if fact.role is RewardRole.referee else "reward_granted_referrer"


def context_for(fact: RewardFact) -> dict[str, Any]:
    """What the email and the feed show; nothing else about the reward is kept."""
    context: dict[str, Any] = {"amount_minor": fact.amount_minor, "currency": fact.currency,
                               "campaign_id": fact.campaign_id, "reward_id": str(fact.reward_id)}
    if isinstance(fact, (RewardGranted, RewardConfirmed)):
        context["kind"] = fact.kind.value
        if fact.discount_code:
            context["discount_code"] = fact.discount_code
    if isinstance(fact, RewardGranted) and fact.hold_until is not None:
        context["hold_until"] = fact.hold_until.date().isoformat()
    if isinstance(fact, RewardRevoked):
        context.update(remaining_minor=fact.remaining_minor, reason=fact.reason)
    return context


def for_reward(tenant_id: str, event_id: uuid.UUID, fact: RewardFact, email: bool = True) -> list[Notification]:
    """The recipient hears of the reward by email, or only in the in-app feed when the campaign
    sends no email. The id is derived, so a replay is the same row, and sorts with the event."""
    channel = "email" if email else "feed"
    nid = derived_uuid(NOTIFICATION_NAMESPACE, f"{tenant_id}\x00{event_id}\x00{channel}\x00{fact.recipient_id}",
                       event_id)
    return [Notification(nid, tenant_id, fact.recipient_id, channel, template_for(fact), event_id, fact.reward_id,
                         context_for(fact))]

