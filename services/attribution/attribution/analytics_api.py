"""The tenant's viral analytics over HTTP: read-only views of one campaign's figures.

Definitions of the figures: attribution.analytics. A `key` of null is the bucket of what is not
known yet (a click whose share has not arrived, a referee whose link is unknown).
"""

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from attribution import analytics_queries as q
from attribution.analytics_queries import Dimension
from kaskade_contracts.fields import CampaignId
from kaskade_platform.tenantauth import TenantAuth
from kaskade_platform.webapp import error_responses

Key = int | str | None



ERRORS = error_responses(401, 422, 429, 503)


class FunnelStep(BaseModel):
    key: Key = Field(description="The dimension's value: channel, variant, segment, generation (of the sharer), "
                                 "day (of the share), or 'all'.")
    shares: int
    clicks: int
    signups: int = Field(description="Referees brought by these links who made an attributed signup.")
    purchases: int = Field(description="Referees brought by these links who made an attributed purchase.")


class KFactor(BaseModel):
    key: Key = Field(description="Generation of the inviting customers, or the day they were acquired.")
    customers: int
    invites: int = Field(description="Shares sent by these customers.")
    won: int = Field(description="Customers their invites won (the next generation).")
    invites_per_customer: float | None
    conversion_rate: float | None = Field(description="Customers won per invite.")
    k: float | None = Field(description="invites_per_customer x conversion_rate.")


class CycleTime(BaseModel):
    generation: int = Field(description="Generation of the referees.")
    referees: int
    average_s: float
    median_s: float


class Sentiment(BaseModel):
    key: Key
    shares: int
    rated: int = Field(description="Shares that carry a sentiment.")
    negative: int = Field(description="Shares with sentiment < 0.")
    negative_share: float | None = Field(description="negative / rated.")


class Drift(BaseModel):
    generation: int
    customers: int = Field(description="Customers of this generation with a known segment (generation 0: seeders).")
    mix: dict[str, float]
    distance: float | None = Field(description="Total variation distance from generation 0's mix (0 = same, "
                                               "1 = disjoint).")


class Figures(BaseModel):
    campaign_id: str
    by: str | None = None


class FunnelView(Figures):
    rows: list[FunnelStep]


class KFactorView(Figures):
    rows: list[KFactor]


class CycleTimeView(Figures):
    rows: list[CycleTime]


class SentimentView(Figures):
    rows: list[Sentiment]


class DriftView(Figures):
    rows: list[Drift]


def build_analytics_router(auth: TenantAuth, pool: Callable[[], asyncpg.Pool]) -> APIRouter:
    router = APIRouter(prefix="/v1/analytics/campaigns/{campaign_id}", tags=["analytics"], responses=ERRORS)
    Tenant = Annotated[str, Depends(auth.tenant)]

    async def read(query: Any, *args: Any) -> list[dict[str, Any]]:
        async with pool().acquire() as conn:
            return [asdict(row) for row in await query(conn, *args)]

    @router.get("/funnel", response_model=FunnelView)
    async def funnel(campaign_id: CampaignId, tenant: Tenant, by: Dimension | None = None) -> FunnelView:
        """shares -> clicks -> signups -> purchases, in total or split by one dimension."""
        return FunnelView(campaign_id=campaign_id, by=by, rows=await read(q.funnel, tenant, campaign_id, by))

    @router.get("/k-factor", response_model=KFactorView)
    async def k_factor(campaign_id: CampaignId, tenant: Tenant,
                       by: Literal["generation", "day"] = "generation") -> KFactorView:
        """The viral coefficient per generation, or per acquisition cohort (by=day)."""
        return KFactorView(campaign_id=campaign_id, by=by,
                           rows=await read(q.k_factor, tenant, campaign_id, Dimension(by)))

    @router.get("/cycle-time", response_model=CycleTimeView)
    async def cycle_time(campaign_id: CampaignId, tenant: Tenant) -> CycleTimeView:
        """From a referrer's own conversion to their referees' conversions, per referee generation."""
        return CycleTimeView(campaign_id=campaign_id, by="generation",
                             rows=await read(q.cycle_time, tenant, campaign_id))

    @router.get("/sentiment", response_model=SentimentView)
    async def sentiment(campaign_id: CampaignId, tenant: Tenant, by: Dimension | None = None) -> SentimentView:
        """The share of shares carrying a negative sentiment."""
        return SentimentView(campaign_id=campaign_id, by=by, rows=await read(q.sentiment, tenant, campaign_id, by))

    @router.get("/drift", response_model=DriftView)
    async def drift(campaign_id: CampaignId, tenant: Tenant) -> DriftView:
        """How far each generation's segment mix has drifted from the seeders'."""
        return DriftView(campaign_id=campaign_id, by="generation", rows=await read(q.drift, tenant, campaign_id))

    return router
