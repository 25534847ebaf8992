"""attribution against real Kafka and Postgres: one running service for the whole session, and a
fresh tenant per test with helpers to publish its facts and read its verdicts.

Every verdict of a tenant's campaign lands on one partition (key tenant:campaign), so a later
verdict proves that an extra one, had there been one, would already have been seen.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from attribution.app import MIGRATIONS, build
from attribution.config import Settings
from kaskade_contracts import topics
from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (CampaignDefined, CampaignStatus, CampaignTerms, Channel, ConversionKind,
                                      ConversionRecorded, LinkClicked, RefundRecorded, ShareRecorded)
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce
from kaskade_platform.db import create_pool
from kaskade_platform.migrations import migrate
from kaskade_platform.runtime import ServiceRuntime

# Clicks are dated this long before "now", so an honest purchase right after is not click injection.
CLICK_AGE = timedelta(minutes=2)


@pytest.fixture(scope="module")
async def pool(infra: Any) -> AsyncIterator[asyncpg.Pool]:
    """A pool on attribution's schema, migrated, for tests that call the repositories directly."""
    p = await create_pool(Settings().database_url, "attribution", min_size=1, max_size=3)
    async with p.acquire() as conn:
        await migrate(conn, "attribution", MIGRATIONS)
    yield p
    await p.close()


@pytest.fixture(scope="module")
async def runtime(infra: Any) -> AsyncIterator[ServiceRuntime]:
    # Per module: a decisions service left running would also decide the conversions that the
    # analytics tests publish by hand, and its verdicts would reach their projection twice over.
    rt = build(Settings())
    await rt.start()
    yield rt
    await rt.stop()


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Tenant:
    """A fresh tenant with helpers to publish its facts and read its verdicts."""

    def __init__(self, infra: Any) -> None:
        self.id = f"at-{uuid.uuid4().hex[:10]}"
        self.bootstrap = infra.kafka_bootstrap_servers
        self.out = TopicWatcher(self.bootstrap, (topics.ATTRIBUTIONS.name,), keep=for_tenant(self.id))

    def campaign(self, campaign_id: str = "default", **terms: Any) -> Envelope[CampaignDefined]:
        return new_envelope(CampaignDefined(campaign_id=campaign_id, version=1, status=CampaignStatus.active,
                                            terms=CampaignTerms(landing_url="https://shop.test/", **terms)),
                            tenant_id=self.id)

    def share(self, sharer: str, *, email_hash: str | None = None) -> Envelope[ShareRecorded]:
        code = f"c{uuid.uuid4().hex[:11]}"
        return new_envelope(ShareRecorded(share_id=uuid.uuid4(), sharer_id=sharer, channel=Channel.whatsapp,
                                          referral_code=code, referral_url=f"https://go.test/r/{code}",
                                          sharer_email_hash=email_hash), tenant_id=self.id)

    def click(self, share: Envelope[ShareRecorded], *, visitor: str | None = None, ip: str | None = None,
              age: timedelta = CLICK_AGE) -> Envelope[LinkClicked]:
        return new_envelope(LinkClicked(click_id=uuid.uuid4(), referral_code=share.payload.referral_code,
                                        campaign_id=share.payload.campaign_id, sharer_id=share.payload.sharer_id,
                                        visitor_id=visitor or uuid.uuid4().hex, ip_hash=ip or uuid.uuid4().hex),
                            tenant_id=self.id, occurred_at=utc_now() - age)

    def buys(self, customer: str, via: Envelope[ShareRecorded] | None = None, *, code: str | None = None,
             click: Envelope[LinkClicked] | None = None, conversion_id: uuid.UUID | None = None,
             order_id: str | None = None, email_hash: str | None = None, amount: int = 4999
             ) -> Envelope[ConversionRecorded]:
        return new_envelope(ConversionRecorded(
            conversion_id=conversion_id or uuid.uuid4(), customer_id=customer, kind=ConversionKind.purchase,
            amount_minor=amount, currency="EUR", referral_code=via.payload.referral_code if via else code,
            click_id=click.payload.click_id if click else None, order_id=order_id,
            customer_email_hash=email_hash), tenant_id=self.id)

    def refund(self, conv: Envelope[ConversionRecorded], amount: int, total: int | None = None
               ) -> Envelope[RefundRecorded]:
        total = amount if total is None else total
        return new_envelope(RefundRecorded(
            refund_id=uuid.uuid4(), conversion_id=conv.payload.conversion_id, amount_minor=amount,
            campaign_id=conv.payload.campaign_id, customer_id=conv.payload.customer_id, currency="EUR",
            refunded_total_minor=total, full=total >= conv.payload.amount_minor), tenant_id=self.id)

    async def send(self, *events: Envelope[Any]) -> None:
        await produce(self.bootstrap, events)

    async def referred(self, customer: str, via: Envelope[ShareRecorded]) -> Envelope[ConversionRecorded]:
        """Publish a share, then a purchase through it; return the purchase once it is decided."""
        conv = self.buys(customer, via)
        await self.send(via)
        await self.send(conv)
        await self.verdict(conv)
        return conv

    async def verdict(self, conv: Envelope[ConversionRecorded]) -> Envelope[Any]:
        cid = conv.payload.conversion_id
        await self.out.wait_for(lambda w: self.verdicts(cid), 30, f"a verdict on {cid}")
        return self.verdicts(cid)[0]

    def verdicts(self, cid: uuid.UUID, event_type: str | None = None) -> list[Envelope[Any]]:
        return [e for e in self.out.events(event_type) if e.payload.conversion_id == cid]


@pytest.fixture
async def t(infra: Any, runtime: ServiceRuntime) -> AsyncIterator[Tenant]:
    tenant = Tenant(infra)
    async with tenant.out:
        yield tenant


async def until(fetch: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not ok(value := await fetch()) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
def wait() -> Callable[..., Awaitable[Any]]:
    """`await wait(fetch, ok)`: poll until ok(fetch()) or 30 s; returns the last value."""
    return until

