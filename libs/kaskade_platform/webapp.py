"""A service's HTTP API: one FastAPI app around the service runtime, the same error shapes everywhere.

Every error a caller can cause is a 4xx JSON body naming the problem, 503 when storage is down,
never an HTML 500.
"""
from __future__ import annotations

import gc
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel, Field
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaskade_platform import logging as klog
from kaskade_platform.http import BodyLimitMiddleware, CorrelationIdMiddleware
from kaskade_platform.runtime import ServiceRuntime

log = logging.getLogger(__name__)


class Error(BaseModel):
    """The body of every error answer: a code a program can act on, and what is wrong."""
    error: str = Field(examples=["validation_failed"])
    detail: Any = None


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a router can give, documented once for its OpenAPI document."""
    return {code: {"model": Error} for code in codes}


def service_app(runtime: ServiceRuntime, *, title: str, description: str = "") -> FastAPI:
    """The app starts and stops the runtime with its lifespan; add routers to it."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        # What exists now (modules, models, pools) lives as long as the process: keep it out of
        # the garbage collector's full passes, whose pauses otherwise land on request latency.
        gc.collect()
        gc.freeze()
        gc.set_threshold(*runtime.settings.gc_thresholds)
        yield
        await runtime.stop()

    on = runtime.settings.http_telemetry
    app = FastAPI(title=title, version="1", description=description, lifespan=lifespan,
                  telemetry={"tracing": on, "metrics": on, "logs": on})

    @app.get("/healthz", tags=["ops"])
    async def health() -> dict[str, str]:
        async with runtime.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
        return {"status": "ok"}

    install_error_handlers(app)
    app.add_middleware(CorrelationIdMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=runtime.settings.max_body_bytes)
    return app


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        return JSONResponse({"error": "validation_failed", "detail": fields}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail).lower().replace(" ", "_")}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(asyncpg.DataError)
    async def bad_data(_: Request, exc: asyncpg.DataError) -> JSONResponse:
        # Backstop: the models refuse what Postgres cannot store, so this should not be reached.
        log.warning("input refused by the database", extra={"error": type(exc).__name__})
        return JSONResponse({"error": "invalid_input", "detail": "a value cannot be stored"}, status_code=422)

    @app.exception_handler(asyncpg.PostgresConnectionError)
    @app.exception_handler(OSError)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable", extra={"error": repr(exc)})
        return JSONResponse({"error": "unavailable", "detail": "storage is unavailable; retry later"},
                            status_code=503, headers={"Retry-After": "1"})


def serve(app: Any, settings: Any) -> None:
    """Run the service until SIGTERM/SIGINT; the lifespan drains consumers and the outbox first."""
    # uvicorn re-raises the signal that stopped it once shutdown is done; after a graceful
    # shutdown the process should still exit 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    klog.configure(settings.service_name, settings.log_level)
    uvicorn.run(app, host=settings.http_host, port=settings.http_port, log_config=None, access_log=False,
                loop="uvloop", timeout_graceful_shutdown=int(settings.graceful_timeout_s))
