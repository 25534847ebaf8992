"""HTTP plumbing shared by services that serve an API: correlation ids on every request."""
from __future__ import annotations

import uuid
from typing import Any

import orjson

from kaskade_platform import logging as klog

HEADER = b"x-correlation-id"


class CorrelationIdMiddleware:
    """Takes the caller's X-Correlation-Id (a UUID) or makes one, exposes it to logs and to the
    events the request causes, and echoes it in the response. Pure ASGI: no per-request task."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = next((value for name, value in scope.get("headers") or () if name == HEADER), b"")
        try:
            cid = str(uuid.UUID(raw.decode("latin-1"))) if raw else str(uuid.uuid4())
        except ValueError:
            cid = str(uuid.uuid4())
        token = klog.correlation_id.set(cid)

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((HEADER, cid.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            klog.correlation_id.reset(token)


def current_correlation_id() -> uuid.UUID | None:
    cid = klog.correlation_id.get()
    return uuid.UUID(cid) if cid else None


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with a 413 JSON error, before anything is parsed."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = None, False
        for name, value in scope.get("headers") or ():
            if name == b"content-length":
                declared = value
            elif name == b"transfer-encoding":
                chunked = True
        if declared is None and not chunked:  # no body at all (a GET, the redirect): nothing to count
            await self.app(scope, receive, send)
            return
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        seen = 0
        refused = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if not refused:  # once refused, the app's own answer (a parse error) is replaced by ours
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise
        if refused:
            await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        body = orjson.dumps({"error": "payload_too_large", "detail": {"limit_bytes": self.max_bytes}})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
