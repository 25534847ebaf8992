"""Customers and tenants: contact data for notification, erasure for every service, and API keys."""
from __future__ import annotations

from typing import ClassVar

from pydantic import AwareDatetime, Field

from kaskade_contracts import topics
from kaskade_contracts.envelope import Payload, register
from kaskade_contracts.fields import CustomerId, Locale


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


@register
class ApiKeyChanged(Payload):
    """A tenant API key was issued, rotated or revoked. Services with a tenant-facing API keep the
    hashes so they can authenticate the tenant without asking share-ingest. Compacted per key."""
    event_type: ClassVar[str] = "ApiKeyChanged"
    topic: ClassVar[str] = topics.TENANTS.name
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    secret_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key's secret (hex); the "
                                                                    "secret itself is shown once and never stored.")
    expires_at: AwareDatetime | None = Field(default=None, description="Set when a rotation retires the key.")
    revoked_at: AwareDatetime | None = None

    def partition_key(self, tenant_id: str) -> str:
        return f"{tenant_id}:{self.key_id}"
