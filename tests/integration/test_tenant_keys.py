"""Tenant API keys reach every service: share-ingest announces each issue, rotation and revocation
on kaskade.tenants.v1, a service applies them to its own `tenant_keys`, and its TenantAuth then
lets exactly the live keys in. Real Kafka, real Postgres (the `kaskade_bench` scratch schema)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from kaskade_contracts import topics
from kaskade_devtools.testing import TopicWatcher, for_tenant
from kaskade_platform.db import create_pool
from kaskade_platform.migrations import migrate
from kaskade_platform.tenantauth import TenantAuth, on_api_key_changed
from kaskade_platform.webapp import install_error_handlers
from share_ingest.app import build
from share_ingest.config import Settings

pytestmark = pytest.mark.integration
OPERATOR = {"Authorization": "Bearer keys-operator-token"}


def replica_app(auth: TenantAuth) -> FastAPI:
    """Stands in for any service's tenant API: who is calling, according to its replicated keys."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/whoami")
    async def whoami(tenant: str = Depends(auth.tenant)) -> dict[str, str]:
        return {"tenant": tenant}

    return app


async def test_issued_rotated_and_revoked_keys_are_replicated_to_other_services(infra: Any) -> None:
    replica = await create_pool(os.environ["KASKADE_BENCH_DATABASE_URL"], "kaskade_bench", min_size=1, max_size=2)
    async with replica.acquire() as conn:
        await migrate(conn, "kaskade_bench", Path("/nonexistent-no-service-migrations"))
    auth = TenantAuth(lambda: replica, rate_limit_per_s=100, rate_limit_burst=100, cache_s=0)
    app, _ = build(Settings(operator_token="keys-operator-token", key_announce_interval_s=0.1))
    tenant = f"tk-{uuid.uuid4().hex[:10]}"
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), \
            httpx.AsyncClient(transport=transport, base_url="http://si") as admin_client, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=replica_app(auth)), base_url="http://svc") as svc, \
            TopicWatcher(infra.kafka_bootstrap_servers, (topics.TENANTS.name,), keep=for_tenant(tenant)) as watcher:
        first = (await admin_client.post("/admin/v1/tenants", json={"tenant_id": tenant, "name": "T"},
                                         headers=OPERATOR)).json()
        second = (await admin_client.post(f"/admin/v1/tenants/{tenant}/api-keys", headers=OPERATOR)).json()
        r = await admin_client.delete(f"/admin/v1/tenants/{tenant}/api-keys/{second['key_id']}", headers=OPERATOR)
        assert r.status_code == 204

        def revocation_seen(w: TopicWatcher) -> bool:
            return any(e.payload.key_id == second["key_id"] and e.payload.revoked_at for e in w.events())
        await watcher.wait_for(revocation_seen, 20, "the revocation to be announced")
        async with replica.acquire() as conn, conn.transaction():
            await on_api_key_changed(conn, watcher.events("ApiKeyChanged"))

        assert {e.payload.key_id for e in watcher.events()} == {first["key_id"], second["key_id"]}
        assert all(first["api_key"].split(".", 1)[1] not in e.model_dump_json() for e in watcher.events())
        ok = await svc.get("/whoami", headers={"Authorization": f"Bearer {first['api_key']}"})
        assert (ok.status_code, ok.json()) == (200, {"tenant": tenant})  # rotated, but within its grace period
        revoked = await svc.get("/whoami", headers={"Authorization": f"Bearer {second['api_key']}"})
        assert (revoked.status_code, revoked.json()["error"]) == (401, "unauthenticated")
        forged = second["api_key"].rsplit(".", 1)[0] + ".not-the-secret"
        assert (await svc.get("/whoami", headers={"Authorization": f"Bearer {forged}"})).status_code == 401

        # Replaying older changes after the revocation never brings the key back.
        async with replica.acquire() as conn, conn.transaction():
            await on_api_key_changed(conn, [e for e in watcher.events() if not e.payload.revoked_at])
        assert (await svc.get("/whoami", headers={"Authorization": f"Bearer {second['api_key']}"})).status_code == 401
    await replica.close()
