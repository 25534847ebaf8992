"""Customer email end to end: reward events on kaskade.rewards.v1 and profiles on
kaskade.customers.v1 go in; what comes out is what a real SMTP server (aiosmtpd, in this process)
receives. Nothing waits on the consumer: the delivery loop sends from the database."""
from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from kaskade_contracts.envelope import Envelope, new_envelope
from kaskade_contracts.events import (CampaignDefined, CustomerProfileUpdated, RewardConfirmed, RewardGranted,
                                      RewardKind, RewardRevoked, RewardRole)
from kaskade_contracts.campaigns import CampaignStatus, CampaignTerms
from kaskade_contracts.fields import Locale
from kaskade_devtools.testing import produce
from notification import domain, repo
from notification.mail import repo as mail_repo

pytestmark = pytest.mark.integration


def profile(tenant: str, customer: str, locale: str = "en", consent: bool = False) -> Envelope[Any]:
    return new_envelope(CustomerProfileUpdated(customer_id=customer, email=f"{customer}@{tenant}.test",
                                               locale=Locale(locale), marketing_consent=consent), tenant_id=tenant)


def granted(tenant: str, recipient: str, role: RewardRole = RewardRole.referrer, campaign: str = "default",
            **extra: Any) -> Envelope[RewardGranted]:
    return new_envelope(RewardGranted(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id=campaign, conversion_id=uuid.uuid4(),
        rule_id="r", recipient_id=recipient, role=role, kind=RewardKind.account_credit, amount_minor=500,
        currency="EUR", generation=1, **extra), tenant_id=tenant)


def address(tenant: str, customer: str) -> str:
    return f"{customer}@{tenant}.test"


async def notification_of(admin: asyncpg.Pool, event: Envelope[Any], status: str | None = None,
                          timeout: float = 30) -> asyncpg.Record:
    deadline = time.monotonic() + timeout
    while True:
        row = await admin.fetchrow("""SELECT notification_id, status, channel FROM notification.notifications
                                      WHERE tenant_id = $1 AND source_event_id = $2""", event.tenant_id, event.event_id)
        if row and (status is None or row["status"] == status):
            return row
        if time.monotonic() > deadline:
            raise TimeoutError(f"no notification{' ' + status if status else ''} for {event.event_type}: {row}")
        await asyncio.sleep(0.05)


async def test_referrer_in_english_and_referee_in_german_get_multipart_mail_with_one_click_unsubscribe(
        service: Any, inbox: Any, admin: asyncpg.Pool, infra: Any, tenant: str) -> None:
    anna, ben = granted(tenant, "anna"), granted(tenant, "ben", RewardRole.referee)
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "anna", "en"), profile(tenant, "ben", "de")])
    await produce(infra.kafka_bootstrap_servers, [anna, ben])

    [to_anna] = await inbox.wait(lambda: inbox.to(address(tenant, "anna")), "anna's email")
    [to_ben] = await inbox.wait(lambda: inbox.to(address(tenant, "ben")), "ben's email")

    n_anna = await notification_of(admin, anna, "sent")
    assert to_anna["Message-ID"] == f"<{n_anna['notification_id']}@notify.test>"
    assert to_anna["Subject"] == "You earned a reward"
    assert (to_ben["Subject"], to_ben["Content-Language"]) == ("Willkommen: Ihr Rabatt", "de")
    for mail in (to_anna, to_ben):
        assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        header = mail["List-Unsubscribe"].strip()  # a long value may be folded onto a second line
        url = re.fullmatch(r"<(http://notification\.test/v1/unsubscribe/[^>]+)>", header).group(1)
        assert url in mail.get_body(("plain",)).get_content()
        assert url in mail.get_body(("html",)).get_content()
    assert "€5.00" in to_anna.get_body(("plain",)).get_content()
    assert "5,00 €" in to_ben.get_body(("plain",)).get_content()


async def test_confirmed_and_revoked_rewards_are_emailed_too(service: Any, inbox: Any, infra: Any,
                                                             tenant: str) -> None:
    common = dict(reward_id=uuid.uuid4(), idempotency_key="k", campaign_id="default", rule_id="r",
                  recipient_id="carla", role=RewardRole.referrer, currency="EUR")
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "carla", "de")])
    await produce(infra.kafka_bootstrap_servers, [
        new_envelope(RewardConfirmed(**common, amount_minor=500, kind=RewardKind.account_credit), tenant_id=tenant),
        new_envelope(RewardRevoked(**common, amount_minor=200, remaining_minor=300, reason="refund",
                                   compensated=True), tenant_id=tenant)])

    mails = await inbox.wait(lambda: len(inbox.to(address(tenant, "carla"))) >= 2 and inbox.to(address(tenant, "carla")),
                             "both emails")
    assert sorted(m["Subject"] for m in mails) == ["Ihre Prämie ist bestätigt", "Ihre Prämie wurde geändert"]


async def test_a_redelivered_event_is_emailed_once(service: Any, inbox: Any, admin: asyncpg.Pool, infra: Any,
                                                   tenant: str) -> None:
    event = granted(tenant, "dora")
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "dora")])
    await produce(infra.kafka_bootstrap_servers, [event, event])
    await notification_of(admin, event, "sent")
    sentinel = granted(tenant, "dora")
    await produce(infra.kafka_bootstrap_servers, [event, sentinel])
    await notification_of(admin, sentinel, "sent")

    ids = sorted(m["Message-ID"] for m in inbox.to(address(tenant, "dora")))
    assert len(ids) == 2 and len(set(ids)) == 2


async def test_a_campaign_without_email_gets_a_feed_entry_but_no_mail(service: Any, inbox: Any,
                                                                       admin: asyncpg.Pool, infra: Any,
                                                                       tenant: str) -> None:
    quiet = new_envelope(CampaignDefined(campaign_id="quiet", version=1, status=CampaignStatus.active,
                                         terms=CampaignTerms(landing_url="https://shop.example/",
                                                             notify_by_email=False)), tenant_id=tenant)
    await produce(infra.kafka_bootstrap_servers, [quiet, profile(tenant, "emil")])
    hushed = granted(tenant, "emil", campaign="quiet")
    sentinel = granted(tenant, "emil")
    await produce(infra.kafka_bootstrap_servers, [hushed, sentinel])

    await notification_of(admin, sentinel, "sent")
    row = await notification_of(admin, hushed)
    assert (row["channel"], row["status"]) == ("feed", "suppressed")
    [mail] = inbox.to(address(tenant, "emil"))
    assert mail["Message-ID"].startswith(f"<{(await notification_of(admin, sentinel))['notification_id']}@")


async def test_unsubscribing_by_one_click_stops_further_mail_but_not_the_feed(
        service: Any, inbox: Any, admin: asyncpg.Pool, infra: Any, tenant: str) -> None:
    first = granted(tenant, "fritz")
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "fritz", "de", consent=True)])
    await produce(infra.kafka_bootstrap_servers, [first])
    [mail] = await inbox.wait(lambda: inbox.to(address(tenant, "fritz")), "the first email")
    path = mail["List-Unsubscribe"].strip().strip("<>").removeprefix("http://notification.test")

    page = await service.client.get(path)
    assert page.status_code == 200 and '<form method="post">' in page.text and "Abmelden" in page.text
    assert await admin.fetchval("""SELECT unsubscribed_at FROM notification.contacts
                                   WHERE tenant_id = $1 AND customer_id = 'fritz'""", tenant) is None  # GET is no click
    done = await service.client.post(path, content=b"List-Unsubscribe=One-Click",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "Abgemeldet" in done.text

    later = granted(tenant, "fritz")
    await produce(infra.kafka_bootstrap_servers, [later])
    assert (await notification_of(admin, later, "suppressed"))["channel"] == "email"
    assert len(inbox.to(address(tenant, "fritz"))) == 1
    assert (await service.client.post(path[:-3] + "xyz")).status_code == 404


async def test_a_burst_to_one_recipient_is_folded_into_a_digest(service: Any, inbox: Any, admin: asyncpg.Pool,
                                                                infra: Any, tenant: str) -> None:
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "gina")])
    burst = [granted(tenant, "gina") for _ in range(6)]
    await produce(infra.kafka_bootstrap_servers, burst)

    for event in burst:
        await notification_of(admin, event, "sent")
    mails = inbox.to(address(tenant, "gina"))
    ids = {r["notification_id"]: r["message_id"] for r in await admin.fetch(
        "SELECT notification_id, message_id FROM notification.email_jobs WHERE tenant_id = $1", tenant)}
    assert len(ids) == 6 and len(mails) < 6
    digests = [m for m in mails if m["Subject"] == "Your reward updates"]
    assert digests
    listed = sum(m.get_body(("plain",)).get_content().count("- Reward earned: €5.00") for m in digests)
    assert listed + len(mails) - len(digests) == 6
    assert {m["Message-ID"] for m in mails} == {f"<{mid}@notify.test>" for mid in ids.values()}


async def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_is_not(
        service: Any, inbox: Any, admin: asyncpg.Pool, infra: Any, tenant: str) -> None:
    inbox.refuse[address(tenant, "hugo")] = ["451 4.3.0 try again later"]
    inbox.refuse[address(tenant, "ida")] = ["550 5.1.1 no such mailbox"]
    hugo, ida = granted(tenant, "hugo"), granted(tenant, "ida")
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "hugo"), profile(tenant, "ida")])
    await produce(infra.kafka_bootstrap_servers, [hugo, ida])

    sent = await notification_of(admin, hugo, "sent")
    failed = await notification_of(admin, ida, "failed")
    assert len(inbox.to(address(tenant, "hugo"))) == 1 and inbox.to(address(tenant, "ida")) == []
    attempts = {r["message_id"]: (r["attempts"], r["last_error"]) for r in await admin.fetch(
        "SELECT message_id, attempts, last_error FROM notification.email_messages WHERE tenant_id = $1", tenant)}
    assert attempts[sent["notification_id"]] == (2, None)
    assert attempts[failed["notification_id"]][0] == 1 and "550" in attempts[failed["notification_id"]][1]


async def test_a_job_is_written_due_now_when_the_contact_is_known_and_after_the_wait_when_not(
        service: Any, admin: asyncpg.Pool, infra: Any, tenant: str) -> None:
    """Written with its wait: a job for a recipient with no contact is not claimed and put off by
    the mail loop first (a second write of every such job)."""
    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "known")])
    deadline = time.monotonic() + 30
    while not await admin.fetchval("SELECT count(*) FROM notification.contacts WHERE tenant_id = $1", tenant):
        assert time.monotonic() < deadline, "the contact was not stored"
        await asyncio.sleep(0.05)
    wait = timedelta(seconds=service.settings.email_contact_wait_s)
    notes = [n for who in ("known", "unknown") for e in [granted(tenant, who)]
             for n in domain.for_reward(tenant, e.event_id, e.payload)]
    async with service.runtime.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await repo.record(conn, notes)
            await mail_repo.add_jobs(conn, notes, wait)
            due = {r["recipient_id"]: r["due_at"] - r["created_at"] for r in await conn.fetch(
                "SELECT recipient_id, due_at, created_at FROM email_jobs WHERE notification_id = ANY($1::uuid[])",
                [n.notification_id for n in notes])}
        finally:
            await tx.rollback()
    assert due == {"known": timedelta(0), "unknown": wait}


async def test_a_reward_that_arrives_before_the_contact_is_mailed_once_the_contact_comes(
        service: Any, inbox: Any, admin: asyncpg.Pool, infra: Any, tenant: str) -> None:
    early = granted(tenant, "jana")
    await produce(infra.kafka_bootstrap_servers, [early])
    note = await notification_of(admin, early)
    deadline = time.monotonic() + 30
    while not await admin.fetchval("""SELECT due_at > now() + interval '5 seconds' FROM notification.email_jobs
                                      WHERE notification_id = $1""", note["notification_id"]):
        assert time.monotonic() < deadline, "the job was not put off to wait for the contact"
        await asyncio.sleep(0.05)

    await produce(infra.kafka_bootstrap_servers, [profile(tenant, "jana", "de")])
    [mail] = await inbox.wait(lambda: inbox.to(address(tenant, "jana")), "the email", timeout=30)
    assert mail["Subject"] == "Sie haben eine Prämie erhalten"
