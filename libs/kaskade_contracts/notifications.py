"""What notification tells tenants' systems and ops about its own deliveries."""
from __future__ import annotations

import uuid
from typing import ClassVar

from pydantic import Field

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, register


@register
class WebhookEndpointDisabled(Payload):
    """A tenant's webhook endpoint was disabled (it answered 410 Gone, or kept failing): deliveries
    to it stop until the tenant enables it again. A notice is also kept in notification's API."""
    event_type: ClassVar[str] = "WebhookEndpointDisabled"
    topic: ClassVar[str] = topics.NOTIFICATIONS.name
    endpoint_id: uuid.UUID
    url: str = Field(max_length=2048)
    reason: str = Field(max_length=500, examples=["the endpoint answered 410 Gone"])

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.endpoint_id}"
