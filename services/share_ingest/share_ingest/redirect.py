"""The referral redirect every shared link hits: record the click, send the visitor on.

This is the busiest route Kaskade serves, so it stays lean: links are cached for a second
(a paused campaign answers 410 within `link_cache_s`), bot checks are cached per user agent, and
clicks are written by group commit (clickwriter.py): the visitor is redirected once the click is
durable, but many visitors share a transaction.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from kaskade_contracts.envelope import new_envelope
from kaskade_platform.http import current_correlation_id
from kaskade_platform.outbox import Outbox
from share_ingest import domain, repo
from share_ingest.clickwriter import ClickWriter, Visit
from share_ingest.config import Settings

VISITOR_COOKIE = "kaskade_vid"
COOKIE_MAX_AGE = 365 * 24 * 3600
_PAGE = "<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{text}</p></html>"
NOT_FOUND = _PAGE.format(title="Link not found", text="This referral link does not exist.")
GONE = _PAGE.format(title="Campaign over", text="This referral campaign has ended.")
_PLACEHOLDER = uuid.UUID(int=0)
_MAX_CACHED = 100_000


@dataclass(frozen=True, slots=True)
class Link:
    tenant_id: str
    campaign_id: str
    sharer_id: str
    active: bool
    to_before_click: str  # the landing URL up to the click id...
    to_after_click: str   # ...and after it
    to_for_bots: str      # a preview is not a click: no click id

    @classmethod
    def of(cls, code: str, row: asyncpg.Record) -> Link:
        before, after = domain.landing_url_with_click(row["landing_url"], _PLACEHOLDER, code).split(str(_PLACEHOLDER))
        return cls(row["tenant_id"], row["campaign_id"], row["sharer_id"], row["status"] == "active", before, after,
                   domain.landing_url_with_click(row["landing_url"], None, code))


class LinkCache:
    """code -> Link (or None for an unknown code, so scans of random codes do not reach the database)."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], ttl_s: float) -> None:
        self.pool, self.ttl_s = pool, ttl_s
        self._links: dict[str, tuple[Link | None, float]] = {}

    async def get(self, code: str) -> Link | None:
        hit = self._links.get(code)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        async with self.pool().acquire() as conn:
            row = await repo.find_link(conn, code)
        link = Link.of(code, row) if row else None
        if self.ttl_s > 0:
            if len(self._links) >= _MAX_CACHED:
                self._links.clear()
            self._links[code] = (link, now + self.ttl_s)
        return link


class BotCheck:
    """Whether a user agent is a link-preview bot or crawler; a handful of agents make most traffic."""

    def __init__(self) -> None:
        self._seen: dict[str, bool] = {}

    def __call__(self, user_agent: str) -> bool:
        verdict = self._seen.get(user_agent)
        if verdict is None:
            if len(self._seen) >= 10_000:
                self._seen.clear()
            verdict = self._seen[user_agent] = domain.is_bot(user_agent)
        return verdict


def build_redirect_router(settings: Settings, pool: Callable[[], asyncpg.Pool], outbox: Outbox) -> APIRouter:
    secret = settings.code_secret.get_secret_value().encode()
    links, is_bot = LinkCache(pool, settings.link_cache_s), BotCheck()
    writer = ClickWriter(pool, outbox, settings.click_dedup_window_s)
    router = APIRouter()

    @router.get("/r/{code}", response_class=RedirectResponse, status_code=302, tags=["redirect"],
                summary="Follow a referral link: records the click, redirects to the campaign's landing page",
                responses={302: {"description": "To the landing URL, with `kaskade_click` and `ref`."},
                           404: {"content": {"text/html": {}}}, 410: {"content": {"text/html": {}}}},
                openapi_extra={"parameters": [{"name": VISITOR_COOKIE, "in": "cookie", "required": False,
                                               "schema": {"type": "string", "maxLength": 64}}]})
    async def follow_link(code: str, request: Request) -> Any:
        link = await links.get(code) if len(code) <= 32 and "\x00" not in code else None
        if link is None:
            return HTMLResponse(NOT_FOUND, status_code=404)
        if not link.active:
            return HTMLResponse(GONE, status_code=410)
        headers = request.headers
        user_agent = headers.get("user-agent", "")
        if is_bot(user_agent):
            return Response(status_code=302, headers={"location": link.to_for_bots})
        cookie = request.cookies.get(VISITOR_COOKIE)
        returning = bool(cookie) and len(cookie) <= 64  # type: ignore[arg-type]
        visitor_id = cookie if returning else uuid.uuid4().hex
        click = domain.link_clicked(uuid.uuid4(), code, link.campaign_id, link.sharer_id, visitor_id,
                                    domain.ip_hash(secret, request.client.host if request.client else ""),
                                    user_agent, headers.get("referer", ""))
        fact = new_envelope(click, tenant_id=link.tenant_id, occurred_at=datetime.now(timezone.utc),
                            correlation_id=current_correlation_id())
        click_id = await writer.record(Visit(fact, returning))
        return Response(status_code=302, headers={
            "location": f"{link.to_before_click}{click_id}{link.to_after_click}",
            "set-cookie": f"{VISITOR_COOKIE}={visitor_id}; HttpOnly; Max-Age={COOKIE_MAX_AGE}; Path=/; SameSite=lax"})

    return router
