"""attribution's tenant API: the referral cascade of a seeder or a campaign (paged, depth-limited),
a customer's upline, and the referrals refused as fraud. Every query is scoped to the authenticated
tenant."""
# No `from __future__ import annotations`: FastAPI must see the routes' Annotated types themselves.
import base64
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from attribution import cascade_queries as q
from kaskade_contracts.fields import CampaignId, CustomerId
from kaskade_platform.tenantauth import TenantAuth
from kaskade_platform.webapp import error_responses

Pool = Callable[[], asyncpg.Pool]



ERRORS = error_responses(400, 401, 422, 429, 503)


class Node(BaseModel):
    referee_id: str
    referrer_id: str
    root_seeder_id: str
    generation: int = Field(description="1 for a seeder's direct referee, 2 for theirs, and so on.")
    depth: int = Field(description="Generations below the customer the tree was asked for (campaign trees: "
                                   "the generation).")
    campaign_id: str
    conversion_id: uuid.UUID = Field(description="The conversion that bound the referee to the referrer.")
    parent_conversion_id: uuid.UUID | None
    bound_at: datetime


class TreePage(BaseModel):
    nodes: list[Node] = Field(description="Breadth first: by generation, then referee id.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one.")


class Upline(BaseModel):
    customer_id: str
    referred: bool = Field(description="False for a customer no one referred (a seeder, or not a customer yet).")
    referrer_id: str | None = None
    root_seeder_id: str | None = None
    generation: int = 0
    upline: list[str] = Field(description="The customer's referrers, nearest first, up to the root seeder.")


class Rejection(BaseModel):
    conversion_id: uuid.UUID
    campaign_id: str
    referee_id: str
    referrer_id: str
    reason: str = Field(examples=["click_flooding"])
    detail: str = Field(examples=["clicks_per_visitor=21>20"])
    rejected_at: datetime


class RejectionPage(BaseModel):
    rejections: list[Rejection] = Field(description="Newest first.")
    next_cursor: str | None


def encode_cursor(generation: int, referee_id: str) -> str:
    return base64.urlsafe_b64encode(f"{generation}|{referee_id}".encode()).decode().rstrip("=")


def decode_cursor(value: str | None) -> q.Position | None:
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        gen, sep, referee = raw.partition("|")
        if not sep or not referee:
            raise ValueError(raw)
        return int(gen), referee
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, {"error": "invalid_cursor", "detail": "pass next_cursor from the previous page"})


def decode_time_cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if value is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        at, _, cid = raw.partition("|")
        position = datetime.fromisoformat(at), uuid.UUID(cid)
        if position[0].tzinfo is None:
            raise ValueError(at)
        return position
    except (ValueError, UnicodeDecodeError):
        raise HTTPException(400, {"error": "invalid_cursor", "detail": "pass next_cursor from the previous page"})


def _page(rows: list[asyncpg.Record], limit: int, base_generation: int) -> TreePage:
    nodes = [Node(**dict(r), depth=r["generation"] - base_generation) for r in rows]
    last = rows[-1] if len(rows) == limit else None
    return TreePage(nodes=nodes, next_cursor=encode_cursor(last["generation"], last["referee_id"]) if last else None)


Depth = Annotated[int, Query(ge=1, le=100, description="Generations below the top to include.")]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=400, description="next_cursor of the previous page.")]


def build_router(auth: TenantAuth, pool: Pool) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["cascade"], responses=ERRORS)
    Tenant = Annotated[str, Depends(auth.tenant)]

    @router.get("/customers/{customer_id}/cascade", response_model=TreePage,
                summary="The referral tree below a customer (a seeder, or anyone in a cascade)")
    async def customer_tree(customer_id: CustomerId, tenant: Tenant, depth: Depth = 10, limit: Limit = 100,
                            cursor: Cursor = None) -> TreePage:
        after = decode_cursor(cursor)
        async with pool().acquire() as conn:
            at = await q.anchor(conn, tenant, customer_id)
            rows = await q.subtree(conn, tenant, customer_id, at, depth, after, limit)
        return _page(rows, limit, at.generation)

    @router.get("/campaigns/{campaign_id}/cascade", response_model=TreePage,
                summary="Every referral of a campaign, generation by generation")
    async def campaign_tree(campaign_id: CampaignId, tenant: Tenant, depth: Depth = 10, limit: Limit = 100,
                            cursor: Cursor = None) -> TreePage:
        after = decode_cursor(cursor)
        async with pool().acquire() as conn:
            rows = await q.campaign_tree(conn, tenant, campaign_id, depth, after, limit)
        return _page(rows, limit, 0)

    @router.get("/customers/{customer_id}/upline", response_model=Upline,
                summary="Who referred a customer, and who referred them, up to the root seeder")
    async def upline(customer_id: CustomerId, tenant: Tenant) -> Upline:
        async with pool().acquire() as conn:
            row = await q.binding(conn, tenant, customer_id)
        if row is None:
            return Upline(customer_id=customer_id, referred=False, upline=[])
        return Upline(customer_id=customer_id, referred=True, referrer_id=row["referrer_id"],
                      root_seeder_id=row["root_seeder_id"], generation=row["generation"],
                      upline=list(reversed(row["upline"])))

    @router.get("/rejections", response_model=RejectionPage, tags=["fraud"],
                summary="Referrals refused as fraud (self-referral, ring, duplicate, flooding, injection), for review")
    async def rejections(tenant: Tenant, limit: Limit = 100, cursor: Cursor = None) -> RejectionPage:
        after = decode_time_cursor(cursor)
        async with pool().acquire() as conn:
            rows = await q.rejections(conn, tenant, after, limit)
        last = rows[-1] if len(rows) == limit else None
        token = (base64.urlsafe_b64encode(f"{last['rejected_at'].isoformat()}|{last['conversion_id']}".encode())
                 .decode().rstrip("=")) if last else None
        return RejectionPage(rejections=[Rejection(**dict(r)) for r in rows], next_cursor=token)

    return router
