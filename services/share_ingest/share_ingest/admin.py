"""The operator's side: register tenants, issue, rotate and revoke their API keys.

Over HTTP (`/admin/v1/...`, Bearer operator token) or on the machine itself:
    python -m share_ingest.admin create-tenant acme-shop "Acme Shop"
    python -m share_ingest.admin rotate-key acme-shop
    python -m share_ingest.admin revoke-key acme-shop <key id>
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from kaskade_contracts.envelope import Contract, Envelope, TenantId, new_envelope
from kaskade_contracts.events import ApiKeyChanged, CampaignTerms
from kaskade_platform import apikeys
from kaskade_platform.db import create_pool
from kaskade_platform.outbox import Outbox
from share_ingest import campaigns, repo
from share_ingest.models import OPERATOR_ERRORS
from share_ingest.auth import OperatorAuth
from share_ingest.config import Settings


class TenantRequest(Contract):
    tenant_id: TenantId
    name: str = Field(min_length=1, max_length=200)


class IssuedKey(BaseModel):
    tenant_id: str
    key_id: str
    api_key: str = Field(description="Shown once; only its hash is stored.")
    previous_keys_expire_at: datetime | None = None


class KeyInfo(BaseModel):
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class Tenants:
    """What the operator can do, shared by the HTTP routes and the CLI."""

    def __init__(self, settings: Settings, outbox: Outbox) -> None:
        self.outbox, self.grace = outbox, timedelta(seconds=settings.key_grace_period_s)
        self.default_terms = CampaignTerms(name="Default campaign", landing_url=settings.default_landing_url)

    async def create(self, conn: asyncpg.Connection, body: TenantRequest) -> IssuedKey | None:
        """Register a tenant with its default campaign (published like any other) and a first key."""
        async with conn.transaction():
            if not await repo.create_tenant(conn, body.tenant_id, body.name):
                return None
            row = await repo.insert_campaign(conn, body.tenant_id, "default", self.default_terms.model_dump(mode="json"))
            await self.outbox.enqueue(conn, [campaigns.defined(body.tenant_id, row)])
            issued = await self._issue(conn, body.tenant_id, rotate=False)
        self.outbox.notify_committed()
        return issued

    async def rotate(self, conn: asyncpg.Connection, tenant_id: str) -> IssuedKey | None:
        async with conn.transaction():
            if not await repo.tenant_exists(conn, tenant_id):
                return None
            return await self._issue(conn, tenant_id, rotate=True)

    async def _issue(self, conn: asyncpg.Connection, tenant_id: str, rotate: bool) -> IssuedKey:
        key = apikeys.mint()
        await repo.insert_api_key(conn, tenant_id, key.key_id, key.secret_hash)
        expires = None
        if rotate:
            expires = datetime.now(timezone.utc) + self.grace
            await repo.expire_api_keys(conn, tenant_id, key.key_id, expires)
        return IssuedKey(tenant_id=tenant_id, key_id=key.key_id, api_key=key.token, previous_keys_expire_at=expires)


async def announce_api_keys(conn: asyncpg.Connection) -> list[Envelope[ApiKeyChanged]]:
    """Periodic job: tell the other services about new, rotated and revoked keys."""
    return [new_envelope(ApiKeyChanged(key_id=r["key_id"], secret_hash=r["secret_hash"].hex(),
                                       expires_at=r["expires_at"], revoked_at=r["revoked_at"]),
                         tenant_id=r["tenant_id"]) for r in await repo.announce_api_keys(conn)]


def build_admin_router(settings: Settings, pool: Callable[[], Any], outbox: Outbox) -> APIRouter:
    tenants = Tenants(settings, outbox)
    router = APIRouter(prefix="/admin/v1", tags=["operator"], dependencies=[Depends(OperatorAuth(settings))],
                       responses=OPERATOR_ERRORS)

    @router.post("/tenants", status_code=201, response_model=IssuedKey)
    async def create_tenant(body: TenantRequest) -> IssuedKey:
        async with pool().acquire() as conn:
            issued = await tenants.create(conn, body)
        if issued is None:
            raise HTTPException(409, {"error": "tenant_exists", "detail": body.tenant_id})
        return issued

    @router.post("/tenants/{tenant_id}/api-keys", status_code=201, response_model=IssuedKey)
    async def rotate_key(tenant_id: TenantId) -> IssuedKey:
        async with pool().acquire() as conn:
            issued = await tenants.rotate(conn, tenant_id)
        if issued is None:
            raise HTTPException(404, {"error": "unknown_tenant", "detail": tenant_id})
        return issued

    @router.get("/tenants/{tenant_id}/api-keys", response_model=list[KeyInfo])
    async def list_keys(tenant_id: TenantId) -> list[KeyInfo]:
        async with pool().acquire() as conn:
            return [KeyInfo(**dict(r)) for r in await repo.api_keys(conn, tenant_id)]

    @router.delete("/tenants/{tenant_id}/api-keys/{key_id}", status_code=204)
    async def revoke_key(tenant_id: TenantId, key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]) -> None:
        async with pool().acquire() as conn:
            if not await repo.revoke_api_key(conn, tenant_id, key_id):
                raise HTTPException(404, {"error": "unknown_key", "detail": key_id})

    return router


async def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m share_ingest.admin")
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create-tenant")
    create.add_argument("tenant_id")
    create.add_argument("name")
    sub.add_parser("rotate-key").add_argument("tenant_id")
    revoke = sub.add_parser("revoke-key")
    revoke.add_argument("tenant_id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)
    settings = Settings()
    pool = await create_pool(settings.database_url, "share_ingest", min_size=1, max_size=1)
    conn = await pool.acquire()
    try:
        tenants = Tenants(settings, Outbox())  # the running service's relay publishes what this enqueues
        if args.command == "create-tenant":
            issued = await tenants.create(conn, TenantRequest(tenant_id=args.tenant_id, name=args.name))
        elif args.command == "rotate-key":
            issued = await tenants.rotate(conn, args.tenant_id)
        else:
            ok = await repo.revoke_api_key(conn, args.tenant_id, args.key_id)
            print("revoked" if ok else "no such live key", file=sys.stderr if not ok else sys.stdout)
            return 0 if ok else 1
    finally:
        await pool.release(conn)
        await pool.close()
    if issued is None:
        print(f"tenant {args.tenant_id!r} {'exists already' if args.command == 'create-tenant' else 'not found'}",
              file=sys.stderr)
        return 1
    print(issued.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_cli(sys.argv[1:])))
