"""Purchases through the running services: as fast as possible (throughput), then paced (latency).

Every purchase is by a new customer, referred by one of the referrers, so each one should come
out as exactly one RewardGranted on kaskade.rewards.v1.
"""
from __future__ import annotations

import asyncio
import math
import time
from itertools import count
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord

from bench.config import BenchConfig
from bench.cpu import CpuMeter
from bench.kafka_io import Tap, send_all
from bench.messages import Outgoing, record_purchase
from kaskade_contracts import topics

_customers = count()


def _purchases(tenant: str, codes: list[str], n: int) -> list[tuple[str, Outgoing]]:
    out = []
    for _ in range(n):
        i = next(_customers)
        cid, rec = record_purchase(tenant, f"cust-{i:07d}", codes[i % len(codes)])
        out.append((str(cid), rec))
    return out


class Rewards:
    """Counts this tenant's RewardGranted (and RewardDeclined, which should never happen here)."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant.encode()
        self.granted = self.declined = 0
        self.last = 0.0
        self.arrivals: list[tuple[str, float]] = []

    def on_record(self, r: ConsumerRecord, now: float) -> None:
        headers = dict(r.headers)
        if headers.get("kaskade-tenant-id") != self.tenant:
            return
        kind = headers.get("kaskade-event-type")
        if kind == b"RewardGranted":
            self.granted += 1
            self.last = now
            self.arrivals.append((orjson.loads(r.value)["payload"]["conversion_id"], now))
        elif kind == b"RewardDeclined":
            self.declined += 1

    def check(self) -> None:
        if self.declined:
            raise RuntimeError(f"{self.declined} rewards declined (budget exhausted?): the figures would be wrong")


async def _await_rewards(cfg: BenchConfig, tap: Tap, rewards: Rewards, n: int, timeout: float) -> None:
    try:
        await tap.wait(lambda: rewards.granted + rewards.declined >= n, timeout, f"{n} RewardGranted")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: only {rewards.granted} arrived (see {cfg.bootstrap} group lag and "
                           f".local/bench-logs/kaskade/*.log)") from None
    rewards.check()


async def run_throughput(cfg: BenchConfig, prod: AIOKafkaProducer, tenant: str, codes: list[str],
                         pids: dict[str, int]) -> dict[str, Any]:
    n = cfg.purchases
    batch = [rec for _, rec in _purchases(tenant, codes, n)]  # built before the clock starts
    rewards = Rewards(tenant)
    tap = Tap(cfg.bootstrap, [topics.REWARDS.name], rewards.on_record)
    await tap.start()
    meter = CpuMeter(pids).start()
    try:
        t0 = time.monotonic()
        await asyncio.wait_for(send_all(prod, batch), cfg.phase_timeout_s)
        sent_s = time.monotonic() - t0
        try:
            await _await_rewards(cfg, tap, rewards, n, cfg.phase_timeout_s - sent_s)
        finally:
            cpu = meter.stop()
    finally:
        await tap.stop()
    seconds = rewards.last - t0
    return {"purchases": n, "seconds": round(seconds, 3), "per_s": round(n / seconds, 1),
            "send_s": round(sent_s, 3), "first_reward_s": round(min(t for _, t in rewards.arrivals) - t0, 3),
            "cpu_cores": cpu}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(math.ceil(q * len(sorted_values)) - 1, 0)]


async def run_latency(cfg: BenchConfig, prod: AIOKafkaProducer, tenant: str, codes: list[str],
                      pids: dict[str, int]) -> dict[str, Any]:
    rate, n = cfg.latency_rate, max(int(cfg.latency_rate * cfg.latency_seconds), 1)
    batch = _purchases(tenant, codes, n)
    sent_at: dict[str, float] = {}
    rewards = Rewards(tenant)
    tap = Tap(cfg.bootstrap, [topics.REWARDS.name], rewards.on_record)
    await tap.start()
    meter = CpuMeter(pids).start()
    try:
        futures, i, t0 = [], 0, time.monotonic()
        while i < n:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            for cid, rec in batch[i:due]:
                sent_at[cid] = time.monotonic()
                futures.append(await prod.send(rec.topic, rec.value, key=rec.key, headers=rec.headers))
            i = due
            await asyncio.sleep(0.002)
        offered_s = time.monotonic() - t0
        await asyncio.wait_for(asyncio.gather(*futures), cfg.phase_timeout_s)
        try:
            await _await_rewards(cfg, tap, rewards, n, cfg.phase_timeout_s)
        finally:
            cpu = meter.stop()
    finally:
        await tap.stop()
    lat = sorted((now - sent_at[cid]) * 1000 for cid, now in rewards.arrivals if cid in sent_at)
    if len(lat) < n:
        raise RuntimeError(f"matched only {len(lat)} of {n} RewardGranted to the purchases sent")
    return {"purchases": n, "offered_per_s": round(n / offered_s, 1), "cpu_cores": cpu,
            **{f"p{int(q * 100)}_ms": round(percentile(lat, q), 1) for q in (0.5, 0.95, 0.99)},
            "max_ms": round(lat[-1], 1)}
