"""share-ingest's composition root: settings, runtime (pool, broker, relay), intake consumer, HTTP app."""
from __future__ import annotations

import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from kaskade_contracts import topics
from kaskade_contracts.events import INTAKE_COMMANDS
from kaskade_platform import logging as klog
from kaskade_platform.http import BodyLimitMiddleware, CorrelationIdMiddleware
from kaskade_platform.runtime import ServiceRuntime
from share_ingest.admin import build_admin_router
from share_ingest.auth import TenantAuth
from share_ingest.campaigns import build_campaign_router
from share_ingest.customers import build_customer_router
from share_ingest.config import Settings
from share_ingest.handlers import intake_handler
from share_ingest.intake import Intake
from share_ingest.redirect import build_redirect_router
from share_ingest.routes import build_router, install_error_handlers

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="share_ingest", migrations_dir=MIGRATIONS,
                             topics=(topics.INTAKE, topics.CAMPAIGNS, topics.CUSTOMERS, topics.ERASURES,
                                     topics.SHARES, topics.CLICKS, topics.CONVERSIONS))
    intake = Intake(settings)
    on_commands = intake_handler(intake)
    runtime.consume([topics.INTAKE], {command: on_commands for command in INTAKE_COMMANDS})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app = FastAPI(title="Kaskade share-ingest", version="1",
                  description="Public intake for product backends: shares, referral links, clicks, conversions, "
                              "refunds. Authenticate with `Authorization: Bearer <api key>`.",
                  lifespan=lifespan)
    pool = lambda: runtime.pool  # noqa: E731 - the pool exists once the lifespan has started
    auth = TenantAuth(settings, pool)
    app.include_router(build_router(intake, auth, pool, runtime.outbox))
    app.include_router(build_campaign_router(auth, pool, runtime.outbox))
    app.include_router(build_customer_router(auth, pool, runtime.outbox))
    app.include_router(build_redirect_router(settings, pool, runtime.outbox))
    app.include_router(build_admin_router(settings, pool, runtime.outbox))

    @app.get("/healthz", tags=["ops"])
    async def health() -> dict[str, str]:
        async with runtime.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"status": "ok"}

    install_error_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    return app, runtime


def main() -> None:
    # uvicorn re-raises the signal that stopped it once shutdown is done; after a graceful
    # shutdown the process should still exit 0, like the other services.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    settings = Settings()
    klog.configure(settings.service_name, settings.log_level)
    app, _ = build(settings)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False,
                loop="uvloop", timeout_graceful_shutdown=int(settings.graceful_timeout_s))
