"""reward's tenant API: a customer's rewards (paged) and balances, a campaign's budget. Every
query is scoped to the authenticated tenant."""
# No `from __future__ import annotations`: FastAPI must see the routes' Annotated types themselves.
import base64
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from kaskade_contracts.fields import CampaignId, CustomerId
from kaskade_platform.tenantauth import TenantAuth
from kaskade_platform.webapp import error_responses
from reward import queries as q

Pool = Callable[[], asyncpg.Pool]



ERRORS = error_responses(400, 401, 404, 422, 429, 503)


class Reward(BaseModel):
    reward_id: uuid.UUID
    campaign_id: str
    conversion_id: uuid.UUID | None
    share_id: uuid.UUID | None
    rule_id: str
    role: str = Field(examples=["referrer", "referee", "sharer", "upline"])
    kind: str = Field(examples=["account_credit", "points", "discount_code"])
    amount_minor: int = Field(description="As granted (or as declined).")
    revoked_minor: int = Field(description="Taken back since by refunds.")
    currency: str = Field(description="ISO 4217, or PTS for points.")
    status: str = Field(examples=["pending", "confirmed", "revoked", "declined"])
    decline_reason: str | None
    discount_code: str | None
    hold_until: datetime | None
    confirmed_at: datetime | None
    created_at: datetime


class RewardPage(BaseModel):
    rewards: list[Reward] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class Balance(BaseModel):
    currency: str
    pending_minor: int = Field(description="Granted, still in the refund window.")
    confirmed_minor: int = Field(description="Final; negative when a reward was reversed after being paid out.")


class Balances(BaseModel):
    customer_id: str
    balances: list[Balance]


class BudgetLine(BaseModel):
    currency: str
    budget_minor: int = Field(description="What the budget was funded with.")
    granted_minor: int
    pending_minor: int
    confirmed_minor: int
    revoked_minor: int
    remaining_minor: int = Field(description="budget - granted + revoked.")


class CampaignBudget(BaseModel):
    campaign_id: str
    budgets: list[BudgetLine] = Field(description="One per currency or asset the campaign pays in.")


def encode_cursor(created_at: datetime, reward_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{reward_id}".encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> q.Position | None:
    if value is None:
        return None
    try:
        at, _, rid = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode().partition("|")
        position = datetime.fromisoformat(at), uuid.UUID(rid)
        if position[0].tzinfo is None:
            raise ValueError(at)
        return position
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, {"error": "invalid_cursor", "detail": "pass next_cursor from the previous page"})


Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page.")]


def build_router(auth: TenantAuth, pool: Pool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["rewards"], responses=ERRORS)
    Tenant = Annotated[str, Depends(auth.tenant)]

    @router.get("/customers/{customer_id}/rewards", response_model=RewardPage,
                summary="A customer's rewards, newest first")
    async def customer_rewards(customer_id: CustomerId, tenant: Tenant, limit: Limit = 100,
                               cursor: Cursor = None) -> RewardPage:
        after = decode_cursor(cursor)
        async with pool().acquire() as conn:
            rows = await q.customer_rewards(conn, tenant, customer_id, after, limit)
        last = rows[-1] if len(rows) == limit else None
        return RewardPage(rewards=[Reward(**dict(r)) for r in rows],
                          next_cursor=encode_cursor(last["created_at"], last["reward_id"]) if last else None)

    @router.get("/customers/{customer_id}/balances", response_model=Balances,
                summary="A customer's pending and confirmed balance per currency or asset")
    async def customer_balances(customer_id: CustomerId, tenant: Tenant) -> Balances:
        async with pool().acquire() as conn:
            rows = await q.customer_balances(conn, tenant, customer_id)
        return Balances(customer_id=customer_id, balances=[Balance(**dict(r)) for r in rows])

    @router.get("/campaigns/{campaign_id}/budget", response_model=CampaignBudget,
                summary="A campaign's budget: granted, pending, confirmed, revoked and remaining")
    async def campaign_budget(campaign_id: CampaignId, tenant: Tenant) -> CampaignBudget:
        async with pool().acquire() as conn:
            rows = await q.campaign_budget(conn, tenant, campaign_id)
        if not rows:
            raise HTTPException(404, {"error": "unknown_campaign", "detail": f"no budget for campaign {campaign_id!r}"})
        return CampaignBudget(campaign_id=campaign_id, budgets=[BudgetLine(**dict(r)) for r in rows])

    return router
