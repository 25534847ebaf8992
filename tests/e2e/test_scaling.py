"""Ops scale a service by starting more instances in its consumer group: the work is shared,
and a rebalance mid-stream processes nothing twice."""
from __future__ import annotations

import asyncio
import os
import re
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from kaskade_contracts import topics
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import ConversionKind, RecordConversion
from kaskade_devtools.stack import Stack
from kaskade_devtools.testing import TopicWatcher, for_tenant, produce, register_tenant

pytestmark = pytest.mark.e2e
ASSIGNED = re.compile(r"assigned to partitions: \((.*?)\)\"")


def _conversion_partitions(log_text: str) -> set[int]:
    """Partitions of kaskade.conversions.v1 in the instance's latest assignment."""
    assignments = ASSIGNED.findall(log_text)
    last = assignments[-1] if assignments else ""
    return {int(p) for p in re.findall(r"topic='kaskade\.conversions\.v1', partition=(\d+)", last)}


async def test_a_second_attribution_instance_shares_the_work_without_double_processing(stack: Stack,
                                                                                        infra: Any) -> None:
    tenant, n = f"scale-{uuid.uuid4().hex[:8]}", 400
    async with httpx.AsyncClient(base_url=stack.base_url) as client:
        r = await client.post("/v1/shares", json={"sharer_id": "seed", "channel": "sms"},
                              headers=await register_tenant(client, tenant))
        code = r.json()["referral_code"]
    purchases = [new_envelope(RecordConversion(
        conversion_id=uuid.uuid4(), customer_id=f"c{i}", kind=ConversionKind.purchase, amount_minor=1000,
        referral_code=code), tenant_id=tenant) for i in range(n)]
    async with TopicWatcher(infra.kafka_bootstrap_servers, (topics.REWARDS.name,), keep=for_tenant(tenant)) as out:
        async def feed() -> None:
            for i in range(0, n, 20):
                await produce(infra.kafka_bootstrap_servers, purchases[i:i + 20])
                await asyncio.sleep(0.05)

        feeding = asyncio.create_task(feed())
        await asyncio.sleep(0.3)
        second = stack.add_instance("attribution")  # rebalance mid-stream
        await asyncio.to_thread(stack.wait_ready, second)
        await feeding
        await out.wait_for(lambda w: len({e.payload.reward_id for e in w.events("RewardGranted")}) >= n, 90,
                           f"{n} rewards")
        await asyncio.sleep(1.5)

    assert len({e.event_id for e in out.events("RewardGranted")}) == n
    first = _conversion_partitions(stack.processes["attribution"].log_path.read_text())
    other = _conversion_partitions(stack.processes[second].log_path.read_text())
    # Both instances hold partitions, never the same one (other members, e.g. a benchmark's, may hold the rest).
    assert first and other and not first & other
    conn = await asyncpg.connect(os.environ["KASKADE_ADMIN_DATABASE_URL"])
    try:
        outcomes = await conn.fetchval(
            "SELECT count(*) FROM attribution.conversion_outcomes WHERE tenant_id = $1", tenant)
        rewards = await conn.fetchval("SELECT count(*) FROM reward.rewards WHERE tenant_id = $1", tenant)
    finally:
        await conn.close()
    assert (outcomes, rewards) == (n, n)
