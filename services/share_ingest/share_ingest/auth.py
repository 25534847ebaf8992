"""Who is calling: a tenant (API key) or an operator (operator token). FastAPI dependencies.

Verified keys are cached briefly so the hot paths (intake, batch) cost no extra query per
request; a revoked key stops working within `key_cache_s`.
"""
from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from fastapi import HTTPException, Request

from kaskade_platform.ratelimit import RateLimiter
from share_ingest import repo, tenancy
from share_ingest.config import Settings

BEARER = {"WWW-Authenticate": "Bearer"}


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, {"error": "unauthenticated", "detail": "send Authorization: Bearer <api key>"},
                            headers=BEARER)
    return token.strip()


class TenantAuth:
    def __init__(self, settings: Settings, pool: Callable[[], Any]) -> None:
        self.pool, self.cache_s = pool, settings.key_cache_s
        self.limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
        self._cache: dict[str, tuple[str, float]] = {}

    async def tenant(self, request: Request) -> str:
        """The authenticated tenant; also spends one token of its rate limit."""
        tenant = await self._authenticate(_bearer(request))
        self.limit(tenant, 1)
        return tenant

    def limit(self, tenant: str, cost: float, paid: float = 0.0) -> None:
        """Spend `cost` more tokens; `paid` is what this request already spent (it counts towards
        whether the request can ever fit in the burst)."""
        wait = math.inf if cost + paid > self.limiter.burst else self.limiter.take(tenant, cost)
        if wait:
            retry = "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))
            raise HTTPException(429, {"error": "rate_limited", "detail": {"limit_per_s": self.limiter.rate,
                                                                          "retry_after_s": int(retry)}},
                                headers={"Retry-After": retry})

    async def _authenticate(self, token: str) -> str:
        cached = self._cache.get(token)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        parsed = tenancy.parse(token)
        tenant = None
        if parsed:
            async with self.pool().acquire() as conn:
                row = await repo.api_key(conn, parsed[0])
            stored = tenancy.StoredKey(**dict(row)) if row else None
            tenant = tenancy.verify(stored, parsed[1], datetime.now(timezone.utc))
        if tenant is None:
            raise HTTPException(401, {"error": "unauthenticated", "detail": "unknown, expired or revoked API key"},
                                headers=BEARER)
        self._cache[token] = (tenant, time.monotonic() + self.cache_s)
        return tenant


class OperatorAuth:
    def __init__(self, settings: Settings) -> None:
        self.token = settings.operator_token.get_secret_value().encode() if settings.operator_token else None

    def __call__(self, request: Request) -> None:
        if self.token is None:
            raise HTTPException(403, {"error": "operator_api_disabled",
                                      "detail": "set KASKADE_SHARE_INGEST_OPERATOR_TOKEN to enable it"})
        if not hmac.compare_digest(_bearer(request).encode(), self.token):
            raise HTTPException(401, {"error": "unauthenticated", "detail": "wrong operator token"}, headers=BEARER)
