"""Request and response bodies of notification's tenant API."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from kaskade_contracts.envelope import Contract
from kaskade_platform.webapp import error_responses
from notification.webhooks.domain import EVENT_TYPES

EventType = Literal[tuple(EVENT_TYPES.values())]  # type: ignore[valid-type]



ERRORS = error_responses(400, 401, 404, 409, 413, 422, 429, 503)


class EndpointIn(Contract):
    url: str = Field(max_length=2048, examples=["https://shop.example.com/hooks/kaskade"],
                     description="http(s) on a public address.")
    event_types: list[EventType] = Field(min_length=1, max_length=len(EVENT_TYPES),
                                         examples=[["reward.granted", "reward.revoked"]])
    description: str = Field(default="", max_length=500)


class EndpointPatch(Contract):
    url: str | None = Field(default=None, max_length=2048)
    event_types: list[EventType] | None = Field(default=None, min_length=1, max_length=len(EVENT_TYPES))
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled endpoint.")


class EndpointView(BaseModel):
    endpoint_id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    status: Literal["active", "disabled"]
    disabled_reason: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


class EndpointCreated(EndpointView):
    secret: str = Field(description="Signing secret (whsec_...), shown only now. Verify deliveries with it per "
                                    "the Standard Webhooks specification.")


class DeliveryView(BaseModel):
    delivery_id: uuid.UUID
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt and redelivery.")
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    due_at: AwareDatetime
    last_status: int | None
    last_error: str | None
    created_at: AwareDatetime
    delivered_at: AwareDatetime | None


class AttemptView(BaseModel):
    attempt: int
    attempted_at: AwareDatetime
    duration_ms: int
    status_code: int | None
    error: str | None


class DeliveryDetail(DeliveryView):
    payload: dict[str, Any]
    attempt_log: list[AttemptView]


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None


class NoticeView(BaseModel):
    notice_id: int
    endpoint_id: uuid.UUID
    kind: str = Field(examples=["endpoint_disabled"])
    detail: str
    created_at: AwareDatetime


class FeedEntry(BaseModel):
    notification_id: uuid.UUID
    type: str = Field(examples=["reward_granted_referrer"])
    data: dict[str, Any] = Field(description="What the notification says: amount, currency, campaign, ... "
                                             "(empty once the customer was erased).")
    emailed: bool = Field(description="Whether it went out by email too.")
    created_at: AwareDatetime


class FeedPage(BaseModel):
    items: list[FeedEntry]
    next_cursor: str | None
