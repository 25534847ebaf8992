"""notification's tenant API: webhook endpoints (register, list, change, delete), their deliveries
(list, inspect, redeliver), notices about them, and a customer's in-app feed. Every query is
scoped to the authenticated tenant; another tenant's ids answer 404."""
# No `from __future__ import annotations`: FastAPI must see the routes' Annotated types themselves.
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Response

from kaskade_contracts.fields import CustomerId
from kaskade_platform.tenantauth import TenantAuth
from notification import cursor, repo
from notification.config import Settings
from notification.models import (ERRORS, AttemptView, DeliveryDetail, DeliveryPage, DeliveryView, EndpointCreated,
                                 EndpointIn, EndpointPatch, EndpointView, FeedEntry, FeedPage, NoticeView)
from notification.webhooks import domain, repo as webhook_repo, ssrf
from notification.webhooks.sealing import SecretBox

Pool = Callable[[], asyncpg.Pool]
NOT_FOUND = {"error": "not_found"}


def _position(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if value is None:
        return None
    position = cursor.decode(value)
    if position is None:
        raise HTTPException(400, {"error": "invalid_cursor", "detail": "pass next_cursor from the previous page"})
    return position


async def _safe(url: str, settings: Settings) -> None:
    try:
        await ssrf.check(url, settings.webhook_allow_loopback)
    except ssrf.UnsafeUrl as exc:
        raise HTTPException(422, {"error": "unsafe_url", "detail": str(exc)}) from exc


def _delivery(row: asyncpg.Record) -> dict:
    return {**dict(row), "webhook_id": domain.webhook_id(row["delivery_id"])}


def build_webhook_router(auth: TenantAuth, pool: Pool, settings: Settings,
                         wake: Callable[[], None] = lambda: None) -> APIRouter:
    """`wake` tells this process's delivery loop that deliveries became due (a redelivery, an
    endpoint enabled again), so they start now rather than at its next poll."""
    router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=ERRORS)
    box = SecretBox.from_setting(settings.webhook_secret_keys.get_secret_value())
    Tenant = Annotated[str, Depends(auth.tenant)]

    @router.post("/endpoints", status_code=201, response_model=EndpointCreated,
                 summary="Register an endpoint; the signing secret is in this answer only")
    async def create(body: EndpointIn, tenant: Tenant) -> EndpointCreated:
        await _safe(body.url, settings)
        secret, endpoint_id = domain.new_secret(), uuid.uuid4()
        async with pool().acquire() as conn:
            row = await webhook_repo.create_endpoint(conn, endpoint_id, tenant, body.url, body.event_types,
                                                     body.description, box.seal(secret, endpoint_id))
        return EndpointCreated(**dict(row), secret=secret)

    @router.get("/endpoints", response_model=list[EndpointView])
    async def list_endpoints(tenant: Tenant) -> list[EndpointView]:
        async with pool().acquire() as conn:
            return [EndpointView(**dict(r)) for r in await webhook_repo.endpoints(conn, tenant)]

    @router.get("/endpoints/{endpoint_id}", response_model=EndpointView)
    async def get_endpoint(endpoint_id: uuid.UUID, tenant: Tenant) -> EndpointView:
        async with pool().acquire() as conn:
            row = await webhook_repo.endpoint(conn, tenant, endpoint_id)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        return EndpointView(**dict(row))

    @router.patch("/endpoints/{endpoint_id}", response_model=EndpointView,
                  summary="Change an endpoint; `enabled: true` re-enables a disabled one")
    async def update(endpoint_id: uuid.UUID, body: EndpointPatch, tenant: Tenant) -> EndpointView:
        if body.url is not None:
            await _safe(body.url, settings)
        async with pool().acquire() as conn:
            row = await webhook_repo.update_endpoint(conn, tenant, endpoint_id, url=body.url,
                                                     event_types=body.event_types, description=body.description,
                                                     enabled=body.enabled)
        if row is None:
            raise HTTPException(404, NOT_FOUND)
        if body.enabled:
            wake()  # its held deliveries are due again
        return EndpointView(**dict(row))

    @router.delete("/endpoints/{endpoint_id}", status_code=204, response_class=Response,
                   summary="Delete an endpoint with its delivery history")
    async def delete(endpoint_id: uuid.UUID, tenant: Tenant) -> Response:
        for attempt in range(3):  # deleting races with attempts being recorded: a deadlock is retried
            try:
                async with pool().acquire() as conn:
                    if not await webhook_repo.delete_endpoint(conn, tenant, endpoint_id):
                        raise HTTPException(404, NOT_FOUND)
                return Response(status_code=204)
            except asyncpg.DeadlockDetectedError:
                if attempt == 2:
                    raise HTTPException(503, {"error": "busy", "detail": "retry the request"},
                                        headers={"Retry-After": "1"}) from None
        raise AssertionError("unreachable")

    @router.get("/deliveries", response_model=DeliveryPage, summary="Deliveries, newest first")
    async def list_deliveries(tenant: Tenant, endpoint_id: uuid.UUID | None = None,
                              status: Literal["pending", "delivered", "failed"] | None = None,
                              cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
                              limit: Annotated[int, Query(ge=1, le=200)] = 50) -> DeliveryPage:
        async with pool().acquire() as conn:
            rows = await webhook_repo.deliveries(conn, tenant, endpoint_id=endpoint_id, status=status,
                                                 before=_position(cursor_), limit=limit)
        last = rows[-1] if len(rows) == limit else None
        return DeliveryPage(items=[DeliveryView(**_delivery(r)) for r in rows],
                            next_cursor=cursor.encode(last["created_at"], last["delivery_id"]) if last else None)

    @router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail,
                summary="A delivery with its payload and every attempt")
    async def get_delivery(delivery_id: uuid.UUID, tenant: Tenant) -> DeliveryDetail:
        async with pool().acquire() as conn:
            row = await webhook_repo.delivery(conn, tenant, delivery_id)
            if row is None:
                raise HTTPException(404, NOT_FOUND)
            log = await webhook_repo.attempts(conn, delivery_id)
        return DeliveryDetail(**_delivery(row), attempt_log=[AttemptView(**dict(a)) for a in log])

    @router.post("/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryView,
                 summary="Send a delivery again, with the same webhook-id", responses={409: {"model": dict}})
    async def redeliver(delivery_id: uuid.UUID, tenant: Tenant) -> DeliveryView:
        async with pool().acquire() as conn:
            if not await webhook_repo.redeliver(conn, tenant, delivery_id, datetime.now(timezone.utc)):
                if await webhook_repo.delivery(conn, tenant, delivery_id) is None:
                    raise HTTPException(404, NOT_FOUND)
                raise HTTPException(409, {"error": "delivery_pending", "detail": "it is being attempted already"})
            row = await webhook_repo.delivery(conn, tenant, delivery_id)
        wake()
        return DeliveryView(**_delivery(row))

    @router.get("/notices", response_model=list[NoticeView],
                summary="What happened to the tenant's endpoints, e.g. one was disabled")
    async def notices(tenant: Tenant) -> list[NoticeView]:
        async with pool().acquire() as conn:
            return [NoticeView(**dict(r)) for r in await webhook_repo.notices(conn, tenant)]

    return router


def build_feed_router(auth: TenantAuth, pool: Pool) -> APIRouter:
    router = APIRouter(prefix="/v1/customers", tags=["feed"], responses=ERRORS)
    Tenant = Annotated[str, Depends(auth.tenant)]

    @router.get("/{customer_id}/notifications", response_model=FeedPage,
                summary="A customer's in-app feed, newest first, paged with next_cursor")
    async def feed(customer_id: CustomerId, tenant: Tenant,
                   cursor_: Annotated[str | None, Query(alias="cursor", max_length=200)] = None,
                   limit: Annotated[int, Query(ge=1, le=100)] = 20) -> FeedPage:
        async with pool().acquire() as conn:
            rows = await repo.feed(conn, tenant, customer_id, _position(cursor_), limit)
        last = rows[-1] if len(rows) == limit else None
        return FeedPage(items=[FeedEntry(notification_id=r["notification_id"], type=r["template"], data=r["context"],
                                         emailed=r["status"] == "sent", created_at=r["created_at"]) for r in rows],
                        next_cursor=cursor.encode(last["created_at"], last["notification_id"]) if last else None)

    return router
