"""share-ingest's composition root: settings, runtime (pool, broker, relay), intake consumer, HTTP app."""
from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from kaskade_contracts import topics
from kaskade_contracts.events import INTAKE_COMMANDS
from kaskade_platform.runtime import ServiceRuntime
from kaskade_platform.webapp import service_app, serve
from share_ingest.admin import announce_api_keys, build_admin_router
from share_ingest.auth import tenant_auth
from share_ingest.campaigns import build_campaign_router
from share_ingest.customers import build_customer_router
from share_ingest.config import Settings
from share_ingest.handlers import intake_handler
from share_ingest.intake import Intake
from share_ingest.redirect import Redirect, RedirectFastPath, build_redirect_router
from share_ingest.routes import build_router

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def build(settings: Settings | None = None) -> tuple[FastAPI, ServiceRuntime]:
    settings = settings or Settings()
    runtime = ServiceRuntime(settings, schema="share_ingest", migrations_dir=MIGRATIONS,
                             topics=(topics.INTAKE, topics.CAMPAIGNS, topics.CUSTOMERS, topics.ERASURES,
                                     topics.TENANTS, topics.SHARES, topics.CLICKS, topics.CONVERSIONS))
    intake = Intake(settings)
    on_commands = intake_handler(intake)
    runtime.consume([topics.INTAKE], {command: on_commands for command in INTAKE_COMMANDS})
    runtime.every(settings.key_announce_interval_s, announce_api_keys)

    app = service_app(runtime, title="Kaskade share-ingest",
                      description="Public intake for product backends: shares, referral links, clicks, "
                                  "conversions, refunds. Authenticate with `Authorization: Bearer <api key>`.")
    pool = lambda: runtime.pool  # noqa: E731 - the pool exists once the lifespan has started
    auth = tenant_auth(settings, pool)
    redirect = Redirect(settings, pool, runtime.outbox)
    app.include_router(build_redirect_router(redirect))
    app.include_router(build_router(intake, auth, pool, runtime.outbox))
    app.include_router(build_campaign_router(auth, pool, runtime.outbox))
    app.include_router(build_customer_router(auth, pool, runtime.outbox))
    app.include_router(build_admin_router(settings, pool, runtime.outbox))
    # Outermost: a visit to a referral link never enters the API's middleware and routing.
    app.add_middleware(RedirectFastPath, redirect=redirect)
    return app, runtime


def main() -> None:
    settings = Settings()
    app, _ = build(settings)
    serve(app, settings)
