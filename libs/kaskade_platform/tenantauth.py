"""Who is calling a service's tenant API: bearer API keys, checked against this service's own
copy of the key hashes (`tenant_keys`, filled from share-ingest's ApiKeyChanged events).

share-ingest, which issues the keys, checks them against its own table instead: it passes its
lookup. Verified keys are cached briefly so the hot paths cost no query per request; a revoked key
stops working within `key_cache_s` (plus the replication lag for services other than share-ingest).
"""
from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Any

import asyncpg
from fastapi import HTTPException, Request

from kaskade_contracts.envelope import Envelope
from kaskade_contracts.customers import ApiKeyChanged
from kaskade_platform import apikeys
from kaskade_platform.ratelimit import RateLimiter

BEARER = {"WWW-Authenticate": "Bearer"}
Lookup = Callable[[asyncpg.Connection, str], Awaitable[apikeys.StoredKey | None]]


def bearer_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, {"error": "unauthenticated", "detail": "send Authorization: Bearer <api key>"},
                            headers=BEARER)
    return token.strip()


async def replicated_key(conn: asyncpg.Connection, key_id: str) -> apikeys.StoredKey | None:
    row = await conn.fetchrow(
        "SELECT key_id, tenant_id, secret_hash, expires_at, revoked_at FROM tenant_keys WHERE key_id = $1", key_id)
    return apikeys.StoredKey(**dict(row)) if row else None


async def on_api_key_changed(conn: asyncpg.Connection, batch: list[Envelope[Any]]) -> Sequence[Envelope[Any]]:
    """Keep the latest state of each key; an older change arriving late never undoes a newer one."""
    rows = [(e.payload.key_id, e.tenant_id, bytes.fromhex(e.payload.secret_hash), e.payload.expires_at,
             e.payload.revoked_at, e.occurred_at) for e in batch]
    await conn.executemany(
        """INSERT INTO tenant_keys (key_id, tenant_id, secret_hash, expires_at, revoked_at, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key_id) DO UPDATE SET expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
               changed_at = excluded.changed_at
           WHERE tenant_keys.changed_at <= excluded.changed_at AND tenant_keys.tenant_id = excluded.tenant_id""",
        rows)
    return []


HANDLERS = {ApiKeyChanged: on_api_key_changed}


class TenantAuth:
    def __init__(self, pool: Callable[[], asyncpg.Pool], *, rate_limit_per_s: float, rate_limit_burst: float,
                 cache_s: float, lookup: Lookup = replicated_key) -> None:
        self.pool, self.cache_s, self.lookup = pool, cache_s, lookup
        self.limiter = RateLimiter(rate_limit_per_s, rate_limit_burst)
        self._cache: dict[str, tuple[str, float]] = {}

    @classmethod
    def from_settings(cls, settings: Any, pool: Callable[[], asyncpg.Pool], lookup: Lookup = replicated_key,
                      ) -> TenantAuth:
        return cls(pool, rate_limit_per_s=settings.rate_limit_per_s, rate_limit_burst=settings.rate_limit_burst,
                   cache_s=settings.key_cache_s, lookup=lookup)

    async def tenant(self, request: Request) -> str:
        """The authenticated tenant; also spends one token of its rate limit."""
        tenant = await self._authenticate(bearer_token(request))
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
        parsed = apikeys.parse(token)
        tenant = None
        if parsed:
            async with self.pool().acquire() as conn:
                stored = await self.lookup(conn, parsed[0])
            tenant = apikeys.verify(stored, parsed[1], datetime.now(timezone.utc))
        if tenant is None:
            raise HTTPException(401, {"error": "unauthenticated", "detail": "unknown, expired or revoked API key"},
                                headers=BEARER)
        self._cache[token] = (tenant, time.monotonic() + self.cache_s)
        return tenant
