"""The referral redirect every shared link hits: record the click, send the visitor on."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from kaskade_contracts.envelope import new_envelope
from kaskade_platform.http import current_correlation_id
from kaskade_platform.outbox import Outbox
from share_ingest import domain, repo
from share_ingest.config import Settings

VISITOR_COOKIE = "kaskade_vid"
_PAGE = "<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{text}</p></html>"
NOT_FOUND = _PAGE.format(title="Link not found", text="This referral link does not exist.")
GONE = _PAGE.format(title="Campaign over", text="This referral campaign has ended.")


def build_redirect_router(settings: Settings, pool: Any, outbox: Outbox) -> APIRouter:
    secret = settings.code_secret.get_secret_value().encode()
    router = APIRouter()

    @router.get("/r/{code}", response_class=RedirectResponse, status_code=302, tags=["redirect"],
                responses={404: {"content": {"text/html": {}}}, 410: {"content": {"text/html": {}}}})
    async def follow_link(code: str, request: Request,
                          visitor: Annotated[str | None, Cookie(alias=VISITOR_COOKIE)] = None) -> Any:
        async with pool().acquire() as conn:
            link = await repo.find_link(conn, code) if len(code) <= 32 and "\x00" not in code else None
            if link is None:
                return HTMLResponse(NOT_FOUND, status_code=404)
            if link["status"] != "active":
                return HTMLResponse(GONE, status_code=410)
            user_agent = request.headers.get("user-agent", "")
            if domain.is_bot(user_agent):
                # Link previews get where the link goes, but are not clicks.
                return RedirectResponse(domain.landing_url_with_click(link["landing_url"], None, code), 302)
            visitor_id = visitor if visitor and len(visitor) <= 64 else uuid.uuid4().hex
            now = datetime.now(timezone.utc)
            last = await repo.last_click(conn, link["tenant_id"], code, visitor_id)
            if last is not None and domain.is_repeat_click(last["occurred_at"], now, settings.click_dedup_window_s):
                click_id = last["click_id"]  # the same visitor again: counted once
            else:
                click_id = uuid.uuid4()
                ip = request.client.host if request.client else ""
                click = domain.link_clicked(click_id, code, link["campaign_id"], link["sharer_id"], visitor_id,
                                            domain.ip_hash(secret, ip), user_agent, request.headers.get("referer", ""))
                fact = new_envelope(click, tenant_id=link["tenant_id"], occurred_at=now,
                                    correlation_id=current_correlation_id())
                async with conn.transaction():
                    await repo.insert_clicks(conn, [fact])
                    await outbox.enqueue(conn, [fact])
                outbox.notify_committed()
        response = RedirectResponse(domain.landing_url_with_click(link["landing_url"], click_id, code), 302)
        response.set_cookie(VISITOR_COOKIE, visitor_id, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
        return response

    return router
