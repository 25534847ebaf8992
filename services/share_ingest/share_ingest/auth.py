"""Who is calling share-ingest: a tenant (API key, checked against the keys share-ingest issues) or
an operator (operator token). FastAPI dependencies."""
from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import asyncpg
from fastapi import HTTPException, Request

from kaskade_platform import apikeys
from kaskade_platform.tenantauth import BEARER, TenantAuth, bearer_token
from share_ingest import repo
from share_ingest.config import Settings

__all__ = ["OperatorAuth", "TenantAuth", "tenant_auth"]


async def issued_key(conn: asyncpg.Connection, key_id: str) -> apikeys.StoredKey | None:
    row = await repo.api_key(conn, key_id)
    return apikeys.StoredKey(**dict(row)) if row else None


def tenant_auth(settings: Settings, pool: Callable[[], Any]) -> TenantAuth:
    return TenantAuth.from_settings(settings, pool, lookup=issued_key)


class OperatorAuth:
    def __init__(self, settings: Settings) -> None:
        self.token = settings.operator_token.get_secret_value().encode() if settings.operator_token else None

    def __call__(self, request: Request) -> None:
        if self.token is None:
            raise HTTPException(403, {"error": "operator_api_disabled",
                                      "detail": "set KASKADE_SHARE_INGEST_OPERATOR_TOKEN to enable it"})
        if not hmac.compare_digest(bearer_token(request).encode(), self.token):
            raise HTTPException(401, {"error": "unauthenticated", "detail": "wrong operator token"}, headers=BEARER)
