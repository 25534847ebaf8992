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
from kaskade_contracts.events import RecordConversion, RecordShare
from kaskade_platform import logging as klog
from kaskade_platform.http import CorrelationIdMiddleware
from kaskade_platform.runtime import ServiceRuntime
from share_ingest.config import Settings
from share_ingest.handlers import Intake
from share_ingest.routes import build_router, install_error_handlers

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="share_ingest", migrations_dir=MIGRATIONS,
                             topics=(topics.INTAKE, topics.SHARES, topics.CLICKS, topics.CONVERSIONS))
    intake = Intake(settings)
    runtime.consume([topics.INTAKE], {RecordShare: intake.record_shares,
                                      RecordConversion: intake.record_conversions})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        yield
        await runtime.stop()

    app = FastAPI(title="Kaskade share-ingest", version="1",
                  description="Public intake for product backends: shares, referral links, clicks, conversions.",
                  lifespan=lifespan)
    app.include_router(build_router(settings, lambda: runtime.pool, runtime.outbox))
    install_error_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
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
