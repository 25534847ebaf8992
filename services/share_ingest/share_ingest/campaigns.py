"""Campaigns: a tenant creates, changes, pauses and resumes them; every change is a new version
published as CampaignDefined on the compacted campaign topic, from which each service keeps
the part it needs. A paused or ended campaign issues no links (its redirect answers 410) and
earns no rewards."""
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import CampaignDefined, CampaignId, CampaignStatus, CampaignTerms
from kaskade_platform.http import current_correlation_id
from kaskade_platform.outbox import Outbox
from share_ingest import repo
from share_ingest.models import ERRORS
from share_ingest.auth import TenantAuth


class CampaignRequest(CampaignTerms):
    """Create a campaign."""
    campaign_id: CampaignId


class CampaignView(BaseModel):
    campaign_id: str
    version: int
    status: CampaignStatus
    terms: CampaignTerms
    updated_at: datetime


def defined(tenant_id: str, row: asyncpg.Record) -> Envelope[CampaignDefined]:
    return new_envelope(CampaignDefined(campaign_id=row["campaign_id"], version=row["version"],
                                        status=CampaignStatus(row["status"]), terms=CampaignTerms(**row["terms"])),
                        tenant_id=tenant_id, correlation_id=current_correlation_id())


def view(row: asyncpg.Record) -> CampaignView:
    return CampaignView(campaign_id=row["campaign_id"], version=row["version"], status=row["status"],
                        terms=CampaignTerms(**row["terms"]), updated_at=row["updated_at"])


def build_campaign_router(auth: TenantAuth, pool: Any, outbox: Outbox) -> APIRouter:
    router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=ERRORS)
    Tenant = Annotated[str, Depends(auth.tenant)]

    async def publish(tenant: str, change: Any) -> CampaignView:
        async with pool().acquire() as conn, conn.transaction():
            row = await change(conn)
            if row is None:
                raise HTTPException(404, {"error": "not_found", "detail": "no such campaign"})
            await outbox.enqueue(conn, [defined(tenant, row)])
        outbox.notify_committed()
        return view(row)

    @router.post("", status_code=201, response_model=CampaignView)
    async def create(body: CampaignRequest, tenant: Tenant) -> CampaignView:
        terms = CampaignTerms(**body.model_dump(exclude={"campaign_id"}))

        async def insert(conn: asyncpg.Connection) -> asyncpg.Record:
            row = await repo.insert_campaign(conn, tenant, body.campaign_id, terms.model_dump(mode="json"))
            if row is None:
                raise HTTPException(409, {"error": "campaign_exists", "detail": body.campaign_id})
            return row
        return await publish(tenant, insert)

    @router.put("/{campaign_id}", response_model=CampaignView)
    async def update(campaign_id: CampaignId, body: CampaignTerms, tenant: Tenant) -> CampaignView:
        return await publish(tenant, lambda conn: repo.update_campaign(conn, tenant, campaign_id,
                                                                       terms=body.model_dump(mode="json")))

    @router.post("/{campaign_id}/pause", response_model=CampaignView)
    async def pause(campaign_id: CampaignId, tenant: Tenant) -> CampaignView:
        return await publish(tenant, lambda conn: repo.update_campaign(conn, tenant, campaign_id, status="paused"))

    @router.post("/{campaign_id}/resume", response_model=CampaignView)
    async def resume(campaign_id: CampaignId, tenant: Tenant) -> CampaignView:
        return await publish(tenant, lambda conn: repo.update_campaign(conn, tenant, campaign_id, status="active"))

    @router.post("/{campaign_id}/end", response_model=CampaignView)
    async def end(campaign_id: CampaignId, tenant: Tenant) -> CampaignView:
        return await publish(tenant, lambda conn: repo.update_campaign(conn, tenant, campaign_id, status="ended"))

    @router.get("", response_model=list[CampaignView])
    async def list_all(tenant: Tenant) -> list[CampaignView]:
        async with pool().acquire() as conn:
            return [view(r) for r in await repo.campaigns(conn, tenant)]

    @router.get("/{campaign_id}", response_model=CampaignView)
    async def get(campaign_id: CampaignId, tenant: Tenant) -> CampaignView:
        async with pool().acquire() as conn:
            rows = await repo.campaigns(conn, tenant, campaign_id)
        if not rows:
            raise HTTPException(404, {"error": "not_found", "detail": f"no campaign {campaign_id}"})
        return view(rows[0])

    return router
