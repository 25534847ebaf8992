"""One-click unsubscribe (RFC 8058) on notification's public HTTP API.

POST is the one click: mail clients send `List-Unsubscribe=One-Click` to the List-Unsubscribe URL,
and the confirmation page's button posts the same. GET only shows that page, because link
scanners and previews fetch URLs found in emails and must not unsubscribe anyone.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from html import escape
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from notification.config import Settings
from notification.mail import links, repo
from notification.mail.render import language

PAGES = {
    "en": {"ask": ("Unsubscribe", "Stop receiving reward emails?", "Unsubscribe"),
           "done": ("Unsubscribed", "You will not receive reward emails any more.", ""),
           "unknown": ("Link not valid", "This unsubscribe link is not valid.", "")},
    "de": {"ask": ("Abmelden", "Keine Prämien-E-Mails mehr erhalten?", "Abmelden"),
           "done": ("Abgemeldet", "Sie erhalten keine Prämien-E-Mails mehr.", ""),
           "unknown": ("Link ungültig", "Dieser Abmeldelink ist ungültig.", "")},
}


# Any string: one that is not a token of ours gets the 404 page, like a forged one.
Token = Annotated[str, Path(description="From the email's List-Unsubscribe link.")]
UNKNOWN: dict[int | str, dict[str, Any]] = {
    404: {"description": "Not a link of one of our emails.", "content": {"text/html": {}}}}


def page(lang: str, which: str, status: int = 200) -> HTMLResponse:
    title, text, button = PAGES[lang][which]
    form = f'<form method="post"><button type="submit">{escape(button)}</button></form>' if button else ""
    return HTMLResponse(f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{escape(title)}'
                        f'</title></head><body><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}</body></html>',
                        status_code=status, headers={"Cache-Control": "no-store"})


def build_unsubscribe_router(settings: Settings, pool: Callable[[], asyncpg.Pool]) -> APIRouter:
    router = APIRouter(tags=["unsubscribe"])
    secret = settings.unsubscribe_secret.get_secret_value().encode()

    @router.get("/v1/unsubscribe/{token}", response_class=HTMLResponse, responses=UNKNOWN,
                summary="Confirmation page of an email's unsubscribe link")
    async def confirm(token: Token) -> HTMLResponse:
        message_id = links.message_of(secret, token)
        async with pool().acquire() as conn:
            locale = await repo.recipient_locale(conn, message_id) if message_id else None
        if locale is None:
            return page("en", "unknown", 404)
        return page(language(locale), "ask")

    @router.post("/v1/unsubscribe/{token}", response_class=HTMLResponse, responses=UNKNOWN,
                 summary="Unsubscribe the email's recipient (RFC 8058 one-click, or the page's button)")
    async def unsubscribe(token: Token) -> HTMLResponse:
        message_id = links.message_of(secret, token)
        async with pool().acquire() as conn:
            locale = await repo.recipient_locale(conn, message_id) if message_id else None
            if locale is None:
                return page("en", "unknown", 404)
            await repo.unsubscribe(conn, message_id, datetime.now(timezone.utc))
        return page(language(locale), "done")

    return router
