"""The HTTP API's request and response bodies (the OpenAPI document is generated from these)."""
from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kaskade_contracts.intake import _ClickFields, _ConversionFields, _RefundFields, _ShareFields
from kaskade_platform.webapp import error_responses

MAX_BATCH = 1000


class ShareRequest(_ShareFields):
    """Record a share. `share_id` (or an Idempotency-Key header) makes retries return the same code."""
    share_id: uuid.UUID | None = None  # type: ignore[assignment]
    occurred_at: AwareDatetime | None = None


class ClickRequest(_ClickFields):
    """Report a click your backend tracked itself (the redirect records its own)."""
    click_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    ip: str = Field(default="", max_length=64, description="Visitor IP; only a keyed hash of it is kept.")
    occurred_at: AwareDatetime | None = None


class ConversionRequest(_ConversionFields):
    """Report a signup or purchase; idempotent per tenant and conversion_id."""
    occurred_at: AwareDatetime | None = None


class RefundRequest(_RefundFields):
    """Refund or cancel a conversion, fully or in part; idempotent per tenant and refund_id."""
    occurred_at: AwareDatetime | None = None


class ShareItem(ShareRequest):
    type: Literal["share"]


class ClickItem(ClickRequest):
    type: Literal["click"]


class ConversionItem(ConversionRequest):
    type: Literal["conversion"]


class RefundItem(RefundRequest):
    type: Literal["refund"]


BatchItem = Annotated[ShareItem | ClickItem | ConversionItem | RefundItem, Field(discriminator="type")]


class BatchRequest(BaseModel):
    """Up to 1,000 mixed events. Each item is validated and applied on its own merits."""
    model_config = ConfigDict(extra="forbid")
    events: list[dict[str, Any]] = Field(
        min_length=1, max_length=MAX_BATCH,
        description="Each item is a share, click, conversion or refund body with a `type` field naming which.")


class ItemResult(BaseModel):
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    error: str | None = None
    detail: Any = None
    share_id: uuid.UUID | None = None
    referral_code: str | None = None
    referral_url: str | None = None
    click_id: uuid.UUID | None = None
    conversion_id: uuid.UUID | None = None
    refund_id: uuid.UUID | None = None


class BatchResponse(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResult]


class ShareResponse(BaseModel):
    share_id: uuid.UUID
    referral_code: str
    referral_url: str


class ClickResponse(BaseModel):
    click_id: uuid.UUID
    status: Literal["accepted", "duplicate"]


class ConversionResponse(BaseModel):
    conversion_id: uuid.UUID
    status: Literal["accepted", "duplicate"]


class RefundResponse(BaseModel):
    refund_id: uuid.UUID
    status: Literal["accepted", "duplicate"]
    refunded_total_minor: int | None = None
    full: bool | None = None


ERRORS = error_responses(400, 401, 404, 409, 413, 422, 429, 503)
OPERATOR_ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503)


def replayed(model: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "description": "A replay of an earlier request: the same answer."}}
