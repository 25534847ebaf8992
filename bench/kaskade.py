"""Kaskade end to end: the four real services as processes, fed through kaskade.intake.v1.

Every run uses a tenant of its own, so nothing an earlier run (or a test) left behind counts.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord

from bench.config import LOG_DIR, BenchConfig
from bench.cpu import foreign_services
from bench.kafka_io import Tap, group_lag, producer, send_all
from bench.load import run_latency, run_throughput
from bench.messages import record_share
from kaskade_contracts import topics
from kaskade_devtools.stack import SERVICES, Stack

log = logging.getLogger(__name__)

# What each service's consumer group reads (group id = the service's name).
GROUP_INPUTS = {
    "share-ingest": (topics.INTAKE.name,),
    "attribution": (topics.SHARES.name, topics.CLICKS.name, topics.CONVERSIONS.name),
    "reward": (topics.ATTRIBUTIONS.name,),
    "notification": (topics.REWARDS.name,),
}


def tenant_records(tenant_id: str, event_type: str):  # noqa: ANN201 - a small predicate factory
    """Match by header, without decoding the body (the services set both headers on every event)."""
    tenant, kind = tenant_id.encode(), event_type.encode()

    def match(r: ConsumerRecord) -> bool:
        headers = dict(r.headers)
        return headers.get("kaskade-tenant-id") == tenant and headers.get("kaskade-event-type") == kind
    return match


async def create_referrers(cfg: BenchConfig, prod: AIOKafkaProducer, tenant: str) -> list[str]:
    """RecordShare per referrer; returns their referral codes once every ShareRecorded is out."""
    codes: dict[str, str] = {}
    is_share = tenant_records(tenant, "ShareRecorded")

    def on_record(r: ConsumerRecord, _: float) -> None:
        if is_share(r):
            payload = orjson.loads(r.value)["payload"]
            codes[payload["sharer_id"]] = payload["referral_code"]

    tap = Tap(cfg.bootstrap, [topics.SHARES.name], on_record)
    await tap.start()
    try:
        await send_all(prod, [record_share(tenant, f"referrer-{i:04d}") for i in range(cfg.referrers)])
        # Generous: share-ingest may still be joining its group, or chewing through a backlog.
        await tap.wait(lambda: len(codes) >= cfg.referrers, cfg.startup_timeout_s,
                       f"ShareRecorded for {cfg.referrers} referrers")
    finally:
        await tap.stop()
    return [codes[f"referrer-{i:04d}"] for i in range(cfg.referrers)]


async def drain(cfg: BenchConfig, timeout: float = 30.0) -> dict[str, int]:
    """Wait until every service has committed what is on its input topics (so attribution knows
    the referrers' links before the clock starts); returns the lag left, which is reported."""
    deadline = time.monotonic() + timeout
    while True:
        lags = {g: await group_lag(cfg.bootstrap, g, t) for g, t in GROUP_INPUTS.items()}
        if not any(lags.values()) or time.monotonic() > deadline:
            return lags
        await asyncio.sleep(0.5)


def _stop_stack(stack: Stack) -> dict[str, int | None]:
    return {name: p.stop(timeout=20) for name, p in reversed(list(stack.processes.items()))}


async def run_kaskade(cfg: BenchConfig) -> dict[str, Any]:
    tenant = f"bench-{secrets.token_hex(4)}"
    result: dict[str, Any] = {"tenant": tenant, "processes": len(SERVICES)}
    stack = Stack(log_dir=LOG_DIR / "kaskade", http_port=cfg.http_port)
    prod = producer(cfg.bootstrap)
    try:
        await asyncio.to_thread(stack.start, timeout=cfg.startup_timeout_s)
        pids = {name: p.proc.pid for name, p in stack.processes.items() if p.proc is not None}
        result["foreign_services"] = foreign_services(set(pids.values()), SERVICES)
        await asyncio.wait_for(prod.start(), 30)
        t = time.monotonic()
        codes = await create_referrers(cfg, prod, tenant)
        result["referrers"] = {"count": len(codes), "seconds": round(time.monotonic() - t, 2),
                               "lag_left": await drain(cfg)}
        result["throughput"] = await run_throughput(cfg, prod, tenant, codes, pids)
        result["lag_after_throughput"] = await drain(cfg)
        result["latency"] = await run_latency(cfg, prod, tenant, codes, pids)
        # Someone else's services in the same consumer groups would share the work: say so.
        result["foreign_services"] = sorted(set(result["foreign_services"]) |
                                            set(foreign_services(set(pids.values()), SERVICES)))
    finally:
        await prod.stop()
        result["exit_codes"] = await asyncio.to_thread(_stop_stack, stack)
    return result
