"""The delivery loops start what this process's consumer wrote as soon as its batch commits: with
the loops' polls a minute apart, an email and a webhook for a new reward still go out within
seconds. (The polls are for retries coming due and for work other instances wrote.)"""
from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import CustomerProfileUpdated, RewardGranted, RewardKind, RewardRole
from kaskade_contracts.fields import Locale
from kaskade_devtools.testing import produce

pytestmark = pytest.mark.integration
POLL_S = 60.0
SETTINGS = {"email_poll_interval_s": POLL_S, "webhook_poll_interval_s": POLL_S}  # read by conftest's `service`
PROMPT_S = 10.0  # far below a poll, with room for a slow machine


async def test_a_new_rewards_email_and_webhook_go_out_without_waiting_for_a_poll(
        service: Any, inbox: Any, receiver: Any, auth: dict[str, str], infra: Any, tenant: str) -> None:
    r = await service.client.post("/v1/webhooks/endpoints", headers=auth,
                                  json={"url": receiver.url(f"{tenant}-wake"), "event_types": ["reward.granted"]})
    assert r.status_code == 201, r.text
    await produce(infra.kafka_bootstrap_servers, [new_envelope(CustomerProfileUpdated(
        customer_id="anna", email=f"anna@{tenant}.test", locale=Locale("en")), tenant_id=tenant)])
    # Past the loops' first rounds after start-up: from now on only a wake-up or a poll claims.
    await asyncio.sleep(1.0)
    t0 = time.monotonic()
    await produce(infra.kafka_bootstrap_servers, [new_envelope(RewardGranted(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default", conversion_id=uuid.uuid4(),
        rule_id="r", recipient_id="anna", role=RewardRole.referrer, kind=RewardKind.account_credit, amount_minor=500,
        currency="EUR", generation=1), tenant_id=tenant)])
    await inbox.wait(lambda: inbox.to(f"anna@{tenant}.test"), "anna's email", timeout=PROMPT_S)
    while not receiver.at(f"{tenant}-wake"):
        assert time.monotonic() - t0 < PROMPT_S, f"no webhook within {PROMPT_S}s (the loops poll every {POLL_S}s)"
        await asyncio.sleep(0.05)
