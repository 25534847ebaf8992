"""The referral redirect every shared link hits: record the click, send the visitor on.

This is the busiest route Kaskade serves, so it stays lean:
- `RedirectFastPath` answers `GET /r/{code}` in front of the FastAPI app, so a visit skips the
  routing and middleware stack built for the JSON API. The FastAPI route documents it in the
  OpenAPI document and answers the same way when the app runs without the fast path.
- links are cached for `link_cache_s` and refreshed in the background, so a paused campaign answers
  410 about that much later;
- bot verdicts are cached per user agent, and each link's landing URL is split once around the click id;
- clicks are written by group commit (clickwriter.py): the visitor is redirected once the click
  is durable, but many visitors share one statement.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.requests import cookie_parser

from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.ids import uuid7
from kaskade_platform.outbox import Outbox
from share_ingest import domain, repo
from share_ingest.clickwriter import ClickWriter, Visit
from share_ingest.config import Settings

VISITOR_COOKIE = "kaskade_vid"
COOKIE_MAX_AGE = 365 * 24 * 3600
_PAGE = "<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title><h1>{title}</h1><p>{text}</p></html>"
NOT_FOUND = _PAGE.format(title="Link not found", text="This referral link does not exist.").encode()
GONE = _PAGE.format(title="Campaign over", text="This referral campaign has ended.").encode()
UNAVAILABLE = orjson.dumps({"error": "unavailable", "detail": "storage is unavailable; retry later"})
_HTML = (b"content-type", b"text/html; charset=utf-8")
_PLACEHOLDER = uuid.UUID(int=0)
_MAX_CACHED = 100_000
_REFRESH_BATCH = 1000
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


@dataclass(frozen=True, slots=True)
class Link:
    tenant_id: str
    campaign_id: str
    sharer_id: str
    active: bool
    to_before_click: str  # the landing URL up to the click id...
    to_after_click: str   # ...and after it
    to_for_bots: bytes    # a preview is not a click: no click id

    @classmethod
    def of(cls, code: str, row: asyncpg.Record) -> Link:
        before, after = domain.landing_url_with_click(row["landing_url"], _PLACEHOLDER, code).split(str(_PLACEHOLDER))
        return cls(row["tenant_id"], row["campaign_id"], row["sharer_id"], row["status"] == "active", before, after,
                   domain.landing_url_with_click(row["landing_url"], None, code).encode())


class LinkCache:
    """code -> Link (or None for an unknown code, so scans of random codes do not reach the database).

    A link past its time is still served while it is refreshed in the background, so busy links
    never make a visitor wait for the database; only a link seen for the first time does. The
    links due are refreshed together, one query at a time: with a query per link, every `ttl_s`,
    a hundred busy links took a hundred pool connections a second, in bursts, queueing with the
    click writer's."""

    def __init__(self, pool: Callable[[], asyncpg.Pool], ttl_s: float) -> None:
        self.pool, self.ttl_s = pool, ttl_s
        self._links: dict[str, tuple[Link | None, float]] = {}
        self._due: set[str] = set()
        self._refresher: asyncio.Task[None] | None = None

    async def get(self, code: str) -> Link | None:
        hit = self._links.get(code)
        if hit is None:
            return await self._load(code)
        if hit[1] <= time.monotonic() and code not in self._due:
            self._due.add(code)
            if self._refresher is None:
                self._refresher = asyncio.get_running_loop().create_task(self._refresh())
        return hit[0]

    async def _refresh(self) -> None:
        try:
            while self._due:
                codes = list(self._due)[:_REFRESH_BATCH]
                try:
                    async with self.pool().acquire() as conn:
                        rows = await repo.find_links(conn, codes)
                except Exception:  # noqa: BLE001 - the stale entries stay; their next visits try again
                    self._due.difference_update(codes)
                    return
                for code in codes:
                    self._keep(code, Link.of(code, rows[code]) if code in rows else None)
                self._due.difference_update(codes)
        finally:
            self._refresher = None

    async def _load(self, code: str) -> Link | None:
        async with self.pool().acquire() as conn:
            row = await repo.find_link(conn, code)
        link = Link.of(code, row) if row else None
        self._keep(code, link)
        return link

    def _keep(self, code: str, link: Link | None) -> None:
        if self.ttl_s > 0:
            if len(self._links) >= _MAX_CACHED:
                self._links.clear()
            self._links[code] = (link, time.monotonic() + self.ttl_s)


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


def visitor_cookie(header: str) -> str | None:
    if VISITOR_COOKIE not in header:
        return None
    value = cookie_parser(header).get(VISITOR_COOKIE)  # lenient, like browsers: one odd cookie spoils nothing
    return value if value and len(value) <= 64 else None


def correlation_of(raw: bytes | None) -> uuid.UUID:
    # A new one is a uuid7: its random bits come from a pool, not a system call per visit.
    try:
        return uuid.UUID(raw.decode("latin-1")) if raw else uuid7()
    except ValueError:
        return uuid7()


class Redirect:
    def __init__(self, settings: Settings, pool: Callable[[], asyncpg.Pool], outbox: Outbox) -> None:
        self.secret = settings.code_secret.get_secret_value().encode()
        self.links, self.is_bot = LinkCache(pool, settings.link_cache_s), BotCheck()
        self.writer = ClickWriter(pool, outbox, settings.click_dedup_window_s, max_in_flight=settings.click_writers)

    async def follow(self, code: str, headers: dict[bytes, bytes], client_ip: str) -> Answer:
        correlation = correlation_of(headers.get(b"x-correlation-id"))
        echo = (b"x-correlation-id", str(correlation).encode())
        try:
            link = await self.links.get(code) if len(code) <= 32 and "\x00" not in code else None
            if link is None:
                return 404, [_HTML, echo], NOT_FOUND
            if not link.active:
                return 410, [_HTML, echo], GONE
            user_agent = headers.get(b"user-agent", b"").decode("latin-1")
            if self.is_bot(user_agent):
                return 302, [(b"location", link.to_for_bots), echo], b""
            cookie = visitor_cookie(headers.get(b"cookie", b"").decode("latin-1"))
            visitor_id = cookie or uuid.uuid4().hex
            click = domain.link_clicked(uuid7(), code, link.campaign_id, link.sharer_id, visitor_id,
                                        domain.ip_hash(self.secret, client_ip), user_agent,
                                        headers.get(b"referer", b"").decode("latin-1"))
            fact = new_envelope(click, tenant_id=link.tenant_id, occurred_at=datetime.now(timezone.utc),
                                correlation_id=correlation)
            click_id = await self.writer.record(Visit(fact, returning=cookie is not None))
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            return 503, [(b"content-type", b"application/json"), (b"retry-after", b"1"), echo], UNAVAILABLE
        return 302, [(b"location", f"{link.to_before_click}{click_id}{link.to_after_click}".encode()),
                     (b"set-cookie", f"{VISITOR_COOKIE}={visitor_id}; HttpOnly; Max-Age={COOKIE_MAX_AGE}; "
                                     f"Path=/; SameSite=lax".encode()), echo], b""


class RedirectFastPath:
    """ASGI: `GET /r/{code}` goes straight to the redirect; everything else to the app."""

    def __init__(self, app: Any, redirect: Redirect) -> None:
        self.app, self.redirect = app, redirect

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or not path.startswith("/r/") or "/" in path[3:]:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        status, headers, body = await self.redirect.follow(path[3:], dict(scope["headers"]),
                                                           client[0] if client else "")
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def build_redirect_router(redirect: Redirect) -> APIRouter:
    router = APIRouter()

    @router.get("/r/{code}", response_class=RedirectResponse, status_code=302, tags=["redirect"],
                summary="Follow a referral link: records the click, redirects to the campaign's landing page",
                responses={302: {"description": "To the landing URL, with `kaskade_click` and `ref`."},
                           404: {"content": {"text/html": {}}}, 410: {"content": {"text/html": {}}}},
                openapi_extra={"parameters": [{"name": VISITOR_COOKIE, "in": "cookie", "required": False,
                                               "schema": {"type": "string", "maxLength": 64}}]})
    async def follow_link(code: str, request: Request) -> Any:
        status, headers, body = await redirect.follow(code, dict(request.scope["headers"]),
                                                      request.client.host if request.client else "")
        return Response(body, status_code=status, headers={k.decode(): v.decode("latin-1") for k, v in headers})

    return router
