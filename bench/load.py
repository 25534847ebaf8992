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

from bench.config import BENCH_GROUPS, LOG_DIR, BenchConfig
from bench.cpu import CpuMeter
from bench.kafka_io import Progress, Tap, group_lag, send_all
from bench.messages import Outgoing, record_purchase
from kaskade_contracts import topics

_customers = count()
# The topics a purchase crosses, in order.
PIPELINE = [topics.INTAKE.name, topics.CONVERSIONS.name, topics.ATTRIBUTIONS.name, topics.REWARDS.name]


def _purchases(tenant: str, codes: list[str], n: int) -> list[tuple[str, Outgoing]]:
    out = []
    for _ in range(n):
        i = next(_customers)
        cid, rec = record_purchase(tenant, f"cust-{i:07d}", codes[i % len(codes)])
        out.append((str(cid), rec))
    return out


class Rewards:
    """Counts this tenant's RewardGranted (and RewardDeclined, which should never happen here).

    The latency run taps the upstream topics too: the first arrival of a purchase's correlation id
    on each topic gives the latency each hop added.
    """

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant.encode()
        self.declined = self.duplicates = 0
        self.last = 0.0
        self.arrivals: dict[str, float] = {}  # conversion id -> first RewardGranted seen for it
        self.per_topic: dict[str, list[float]] = {}  # topic -> [count, first, last]
        # topic -> correlation id -> first arrival: every event a purchase causes shares its id.
        self.by_correlation: dict[str, dict[bytes, float]] = {t: {} for t in PIPELINE}

    def on_record(self, r: ConsumerRecord, now: float) -> None:
        headers = dict(r.headers)
        if headers.get("kaskade-tenant-id") != self.tenant:
            return
        seen = self.per_topic.setdefault(r.topic, [0, now, now])
        seen[0] += 1
        seen[2] = now
        self.by_correlation[r.topic].setdefault(headers.get("kaskade-correlation-id", b""), now)
        if r.topic != topics.REWARDS.name:
            return
        kind = headers.get("kaskade-event-type")
        if kind == b"RewardGranted":
            conversion_id = orjson.loads(r.value)["payload"]["conversion_id"]
            if conversion_id in self.arrivals:
                self.duplicates += 1  # e.g. a relay republishing after a crash: counted once
                return
            self.arrivals[conversion_id] = self.last = now
        elif kind == b"RewardDeclined":
            self.declined += 1

    @property
    def granted(self) -> int:
        return len(self.arrivals)

    def check(self) -> None:
        if self.declined:
            raise RuntimeError(f"{self.declined} rewards declined (budget exhausted?): the figures would be wrong")


async def _await_rewards(cfg: BenchConfig, tap: Tap, rewards: Rewards, n: int, timeout: float) -> None:
    try:
        await tap.wait(lambda: rewards.granted + rewards.declined >= n, timeout, f"{n} RewardGranted")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: only {rewards.granted} arrived; see the services' logs in {LOG_DIR}") from None
    rewards.check()


async def run_throughput(cfg: BenchConfig, prod: AIOKafkaProducer, tenant: str, codes: list[str],
                         pids: dict[str, int]) -> dict[str, Any]:
    n = cfg.purchases
    batch = [rec for _, rec in _purchases(tenant, codes, n)]  # built before the clock starts
    rewards = Rewards(tenant)
    # Only the last hop is read, as in the ceiling's run; the hops before it are watched by offsets.
    tap, hops = Tap(cfg.bootstrap, PIPELINE[-1:], rewards.on_record), Progress(cfg.bootstrap, PIPELINE[:-1])
    await tap.start()
    await hops.start()
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
        await hops.stop()
        await tap.stop()
    seconds = rewards.last - t0
    notified_s = await _notifications_caught_up(cfg, t0)
    last = rewards.per_topic[topics.REWARDS.name]
    return {"purchases": n, "seconds": round(seconds, 3), "per_s": round(n / seconds, 1),
            "send_s": round(sent_s, 3), "duplicates": rewards.duplicates, "notifications_stored_s": notified_s,
            "cpu_cores": cpu,
            # Per topic: how many events landed, and when the first and the last did.
            "hops": {**hops.hops(t0), topics.REWARDS.name: {
                "events": int(last[0]), "first_s": round(last[1] - t0, 3), "last_s": round(last[2] - t0, 3)}}}


async def _notifications_caught_up(cfg: BenchConfig, t0: float, timeout: float = 30.0) -> float | None:
    """When notification had committed everything on kaskade.rewards.v1 (s after t0), or None."""
    deadline = time.monotonic() + timeout
    while await group_lag(cfg.bootstrap, BENCH_GROUPS["notification"], [topics.REWARDS.name]) > 0:
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(0.05)
    return round(time.monotonic() - t0, 3)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(math.ceil(q * len(sorted_values)) - 1, 0)]


async def run_latency(cfg: BenchConfig, prod: AIOKafkaProducer, tenant: str, codes: list[str],
                      pids: dict[str, int]) -> dict[str, Any]:
    rate, n = cfg.latency_rate, max(int(cfg.latency_rate * cfg.latency_seconds), 1)
    batch = _purchases(tenant, codes, n)
    sent_at: dict[str, float] = {}
    rewards = Rewards(tenant)
    tap = Tap(cfg.bootstrap, PIPELINE[1:], rewards.on_record)
    await tap.start()
    meter = CpuMeter(pids).start()
    try:
        futures, i, t0 = [], 0, time.monotonic()
        while i < n:
            due = min(n, int((time.monotonic() - t0) * rate) + 1)
            for cid, rec in batch[i:due]:
                sent_at[cid] = rewards.by_correlation[PIPELINE[0]][dict(rec.headers)["kaskade-correlation-id"]] = \
                    time.monotonic()
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
    lat = sorted((now - sent_at[cid]) * 1000 for cid, now in rewards.arrivals.items() if cid in sent_at)
    if len(lat) < n:
        raise RuntimeError(f"matched only {len(lat)} of {n} RewardGranted to the purchases sent")
    return {"purchases": n, "offered_per_s": round(n / offered_s, 1), "cpu_cores": cpu,
            **_percentiles(lat), "per_hop": _per_hop(rewards.by_correlation)}


def _percentiles(ms: list[float]) -> dict[str, float]:
    return {**{f"p{int(q * 100)}_ms": round(percentile(ms, q), 1) for q in (0.5, 0.95, 0.99)},
            "max_ms": round(ms[-1], 1)}


def _per_hop(arrivals: dict[str, dict[bytes, float]]) -> dict[str, dict[str, float]]:
    """Latency added by each service: from its input event's arrival to its output event's, as the
    benchmark saw them on the topics (so each hop includes one Kafka delivery)."""
    hops = {}
    for (src, into), (dst, out) in zip(list(arrivals.items()), list(arrivals.items())[1:]):
        ms = sorted((out[c] - into[c]) * 1000 for c in out.keys() & into.keys())
        if ms:
            hops[f"{src} -> {dst}"] = _percentiles(ms)
    return hops
