"""HTTP intake for product backends, and the referral redirect every shared link hits."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Cookie, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from kaskade_contracts.envelope import Envelope, TenantId, new_envelope
from kaskade_contracts.events import RecordConversion, RecordShare, _ConversionFields, _ShareFields
from kaskade_platform.consumer import Unprocessable
from kaskade_platform.http import current_correlation_id
from kaskade_platform.outbox import Outbox
from share_ingest import domain, repo
from share_ingest.config import Settings
from share_ingest.handlers import Intake

log = logging.getLogger(__name__)
VISITOR_COOKIE = "kaskade_vid"


class ShareRequest(_ShareFields):
    """Record a share. `share_id` (or an Idempotency-Key header) makes retries return the same code."""
    share_id: uuid.UUID | None = None  # type: ignore[assignment]
    occurred_at: datetime | None = None


class ShareResponse(BaseModel):
    share_id: uuid.UUID
    referral_code: str
    referral_url: str


class ConversionRequest(_ConversionFields):
    """Report a signup or purchase; idempotent per tenant and conversion_id."""
    occurred_at: datetime | None = None


class ConversionResponse(BaseModel):
    conversion_id: uuid.UUID
    status: str = Field(examples=["accepted", "duplicate"])


class Error(BaseModel):
    model_config = ConfigDict(extra="allow")
    error: str
    detail: Any = None


Tenant = Annotated[TenantId, Header(alias="X-Kaskade-Tenant", description="Tenant slug of the calling backend.")]


def build_router(settings: Settings, pool: Any, outbox: Outbox) -> APIRouter:
    """`pool` is a zero-argument callable: the pool exists only once the service has started."""
    intake = Intake(settings)
    secret = settings.code_secret.get_secret_value().encode()
    router = APIRouter()
    errors: dict[int | str, dict[str, Any]] = {422: {"model": Error}, 409: {"model": Error}, 503: {"model": Error}}

    def _now(value: datetime | None) -> datetime:
        return (value or datetime.now(timezone.utc)).astimezone(timezone.utc) if value and value.tzinfo else \
            datetime.now(timezone.utc) if value is None else value.replace(tzinfo=timezone.utc)

    async def _record(command: Envelope[Any], record: Any) -> list[Envelope[Any]]:
        try:
            async with pool().acquire() as conn, conn.transaction():
                facts = await record(conn, [command])
                await outbox.enqueue(conn, facts)
        except Unprocessable as exc:
            raise HTTPException(422 if exc.reason == "unknown_campaign" else 409,
                                {"error": exc.reason, "detail": exc.detail}) from None
        if facts:
            outbox.notify_committed()
        return facts

    @router.post("/v1/shares", response_model=ShareResponse, status_code=201, responses=errors)
    async def record_share(body: ShareRequest, tenant: Tenant, response_status: Request,
                           idempotency_key: Annotated[str | None, Header(max_length=128)] = None) -> Any:
        share_id = body.share_id or (domain.share_id_for_idempotency_key(tenant, idempotency_key)
                                     if idempotency_key else uuid.uuid4())
        cmd = RecordShare(**body.model_dump(exclude={"share_id", "occurred_at"}), share_id=share_id)
        facts = await _record(new_envelope(cmd, tenant_id=tenant, occurred_at=_now(body.occurred_at),
                                           correlation_id=current_correlation_id()),
                              intake.record_shares)
        if facts:
            p = facts[0].payload
            return ShareResponse(share_id=p.share_id, referral_code=p.referral_code, referral_url=p.referral_url)
        async with pool().acquire() as conn:
            row = await repo.share_code(conn, tenant, share_id)
        code = row["referral_code"]
        return JSONResponse(ShareResponse(share_id=share_id, referral_code=code,
                                          referral_url=domain.referral_url(settings.public_base_url, code))
                            .model_dump(mode="json"), status_code=200)

    @router.post("/v1/conversions", response_model=ConversionResponse, status_code=202, responses=errors)
    async def record_conversion(body: ConversionRequest, tenant: Tenant) -> ConversionResponse:
        cmd = RecordConversion(**body.model_dump(exclude={"occurred_at"}))
        facts = await _record(new_envelope(cmd, tenant_id=tenant, occurred_at=_now(body.occurred_at),
                                           correlation_id=current_correlation_id()),
                              intake.record_conversions)
        return ConversionResponse(conversion_id=cmd.conversion_id, status="accepted" if facts else "duplicate")

    @router.get("/r/{code}", response_class=RedirectResponse, status_code=302,
                responses={404: {"content": {"text/html": {}}}, 410: {"content": {"text/html": {}}}})
    async def follow_link(code: str, request: Request,
                          visitor: Annotated[str | None, Cookie(alias=VISITOR_COOKIE)] = None) -> Any:
        async with pool().acquire() as conn:
            link = await repo.find_link(conn, code) if len(code) <= 32 else None
            if link is None:
                return HTMLResponse("<h1>This referral link does not exist.</h1>", status_code=404)
            if link["status"] != "active":
                return HTMLResponse("<h1>This referral campaign has ended.</h1>", status_code=410)
            user_agent = request.headers.get("user-agent", "")
            if domain.is_bot(user_agent):
                # Link previews get where the link goes, but are not clicks.
                return RedirectResponse(domain.landing_url_with_click(link["landing_url"], None, code),
                                        status_code=302)
            visitor_id = visitor if visitor and len(visitor) <= 64 else uuid.uuid4().hex
            now = datetime.now(timezone.utc)
            last = await repo.last_click(conn, link["tenant_id"], code, visitor_id)
            if last is not None and domain.is_repeat_click(last["occurred_at"], now, settings.click_dedup_window_s):
                click_id = last["click_id"]
            else:
                click_id = uuid.uuid4()
                ip = request.client.host if request.client else ""
                click = domain.link_clicked(click_id, code, link["campaign_id"], link["sharer_id"], visitor_id,
                                            domain.ip_hash(secret, ip), user_agent,
                                            request.headers.get("referer", ""))
                async with conn.transaction():
                    await repo.insert_click(conn, link["tenant_id"], click, now)
                    await outbox.enqueue(conn, [new_envelope(click, tenant_id=link["tenant_id"], occurred_at=now,
                                                             correlation_id=current_correlation_id())])
                outbox.notify_committed()
        response = RedirectResponse(domain.landing_url_with_click(link["landing_url"], click_id, code), status_code=302)
        response.set_cookie(VISITOR_COOKIE, visitor_id, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
        return response

    @router.get("/healthz")
    async def health() -> dict[str, str]:
        async with pool().acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"status": "ok"}

    return router


def install_error_handlers(app: Any) -> None:
    """Every error a caller can cause is a 4xx JSON body naming the problem; never an HTML 500."""
    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": "validation_failed", "detail": fields}, status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(OSError)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"error": repr(exc)})
        return JSONResponse({"error": "unavailable", "detail": "storage is unavailable; retry later"},
                            status_code=503, headers={"Retry-After": "1"})
