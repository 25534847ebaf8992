"""POST /v1/events:batch: a product backend's bulk door, timed into Kafka.

share-ingest runs alone with its per-tenant rate limit raised (RATE_LIMIT_ENV: the defaults,
2,000/s with a burst of 4,000, would cap the phase at the limit rather than at the service).
BENCH_BATCH_CLIENTS (8) clients send 1,000-item batches, mostly conversions and shares and a few
clicks, for a fixed time; the figure is accepted events per second into Kafka: this tenant's
ShareRecorded, ConversionRecorded and LinkClicked as they land on their topics, counted by the
topics' end offsets while timed (bench.kafka_io.Landed) and read back afterwards to check that
each is one the run sent, once.

share-ingest runs as ops would deploy an intake under load: BENCH_BATCH_HTTP_INSTANCES (2)
instances serve HTTP with their outbox relay off, the clients spread over them as a load balancer
would, and one more instance relays the outbox (bench.ingest.separate_relay; BENCH_BATCH_RELAY=inline
runs the relay inside the first HTTP instance instead). One HTTP process spent a fifth of its time
waiting on Postgres and Kafka and topped out at 10-13k events/s; two took 13.4-14.2k in the same
hour (8 clients each time).

Only share-ingest runs; nothing reads those events afterwards (see bench.ingest). The
conversions carry no referral code; intake does the same work for them either way.
"""
from __future__ import annotations

import asyncio
import math
import secrets
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

import httpx
import orjson

from bench.config import TARGET_BATCH_EVENTS_PER_S, BenchConfig
from bench.cpu import CpuMeter, foreign_services
from bench.ingest import (RELAY_ENV, AdminCounts, pid_of, relay_pid, separate_relay, share_ingest_alone,
                          still_running, tenant_with_links)
from bench.kafka_io import Landed, TenantEvents
from bench.load import percentile
from bench.visitors import USER_AGENTS
from kaskade_contracts import topics

RATE_LIMIT_ENV = {"KASKADE_SHARE_INGEST_RATE_LIMIT_PER_S": "1000000",
                  "KASKADE_SHARE_INGEST_RATE_LIMIT_BURST": "2000000"}
LINKS = 20
CLICK_EVERY = 50  # one item in 50 is a click; the rest alternate conversion, share
FACTS = ("ShareRecorded", "ConversionRecorded", "LinkClicked")
FACT_TOPICS = (topics.SHARES.name, topics.CONVERSIONS.name, topics.CLICKS.name)


def batch_body(seq: int, items: int, codes: list[str]) -> bytes:
    events: list[dict[str, Any]] = []
    for i in range(items):
        ident, code = f"b{seq:05d}-{i:04d}", codes[i % len(codes)]
        if i % CLICK_EVERY == 0:
            events.append({"type": "click", "click_id": str(uuid.uuid4()), "referral_code": code,
                           "visitor_id": f"v-{ident}", "user_agent": USER_AGENTS[i % len(USER_AGENTS)],
                           "ip": f"203.0.113.{i % 250}"})
        elif i % 2:
            purchase = i % 4 == 1
            events.append({"type": "conversion", "conversion_id": str(uuid.uuid4()), "customer_id": f"cust-{ident}",
                           "kind": "purchase" if purchase else "signup", "amount_minor": 4999 if purchase else 0,
                           "order_id": f"order-{ident}" if purchase else None})
        else:
            events.append({"type": "share", "share_id": str(uuid.uuid4()), "sharer_id": f"cust-{ident}",
                           "channel": "whatsapp" if i % 3 else "email"})
    return orjson.dumps({"events": events})


async def _send(client: httpx.AsyncClient, bodies: list[bytes], deadline: float, stats: dict[str, Any]) -> None:
    """One client: batch after batch until the time is up (or the prepared batches run out)."""
    while bodies and time.monotonic() < deadline:
        body, t = bodies.pop(), time.monotonic()
        r = await client.post("/v1/events:batch", content=body)
        stats["latency_ms"].append((time.monotonic() - t) * 1000)
        stats["last"] = time.monotonic()
        if r.status_code != 200:
            stats["failed"][str(r.status_code)] += 1
            continue
        answer = orjson.loads(r.content)
        for key in ("accepted", "duplicates", "rejected"):
            stats[key] += answer[key]
        stats["requests"] += 1


async def run_batch(cfg: BenchConfig, result: dict[str, Any]) -> dict[str, Any]:
    tenant = f"bench-{secrets.token_hex(4)}"
    result.update({"tenant": tenant, "items_per_request": cfg.batch_items, "clients": cfg.batch_clients,
                   "service_env": RATE_LIMIT_ENV})
    # Enough batches for 1.5 x the target over the whole run, built before the clock starts.
    bodies_needed = math.ceil(TARGET_BATCH_EVENTS_PER_S * 1.5 * cfg.batch_seconds / cfg.batch_items)
    result["relay"] = "separate process" if separate_relay("batch") else "in the HTTP process"
    async with AsyncExitStack() as cleanup:
        ingest = await cleanup.enter_async_context(share_ingest_alone(cfg, "batch", RATE_LIMIT_ENV))
        counts = await AdminCounts.connect(cfg.admin_dsn)
        cleanup.push_async_callback(counts.close)
        pids = {"share_ingest": pid_of(ingest)}
        if relay := relay_pid(ingest, "batch"):
            pids["share_ingest_relay"] = relay
        urls = [ingest.base_url]
        for _ in range(cfg.batch_http_instances - 1):  # more HTTP instances, as behind a load balancer
            key = ingest.add_instance("share_ingest", env={RELAY_ENV: "false"})
            await asyncio.to_thread(ingest.wait_ready, key, timeout=cfg.startup_timeout_s)
            n = int(key.split("#")[1])
            urls.append(ingest.url("share_ingest", instance=n))
            pids[f"share_ingest_http{n}"] = ingest.processes[key].proc.pid  # type: ignore[union-attr]
        result["http_instances"] = len(urls)
        result["foreign_services"] = foreign_services(set(pids.values()), ("share_ingest",))
        auth, codes = await tenant_with_links(ingest.base_url, tenant, LINKS)
        bodies = [batch_body(seq, cfg.batch_items, codes) for seq in range(bodies_needed)]
        clients = [await cleanup.enter_async_context(httpx.AsyncClient(
            base_url=url, timeout=60, headers={**auth, "content-type": "application/json"},
            limits=httpx.Limits(max_connections=cfg.batch_clients))) for url in urls]
        landed = Landed(cfg.bootstrap, FACT_TOPICS)
        await landed.start()
        cleanup.push_async_callback(landed.stop)

        stats: dict[str, Any] = {"requests": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "last": 0.0,
                                 "failed": Counter[str](), "latency_ms": []}
        meter, t0 = CpuMeter(pids).start(), time.monotonic()
        try:
            await asyncio.wait_for(asyncio.gather(*(_send(clients[i % len(clients)], bodies, t0 + cfg.batch_seconds,
                                                          stats) for i in range(cfg.batch_clients))),
                                   cfg.batch_seconds + cfg.phase_timeout_s)
            sent_s = stats["last"] - t0
            still_running(ingest, "the batch run")
            try:
                await landed.wait(stats["accepted"], cfg.phase_timeout_s,
                                  f"{stats['accepted']} accepted events on Kafka")
            except TimeoutError as exc:
                raise TimeoutError(f"{exc}: {await counts.unpublished(tenant)} still in the outbox") from None
        finally:
            result["cpu_cores"] = meter.stop()
        # Counted by offsets while timed; now each record is checked to be one this run's tenant sent.
        arrivals = TenantEvents(tenant, FACTS)
        await landed.read_back(arrivals.on_record, cfg.phase_timeout_s)
        if arrivals.total != landed.counted or arrivals.total != stats["accepted"]:
            raise RuntimeError(f"{landed.counted} records landed on {FACT_TOPICS} while timed, {arrivals.total} of "
                               f"them this run's facts, for {stats['accepted']} accepted: another writer on these "
                               f"topics (see foreign_services) or a lost or doubled event")
        seconds = landed.last - t0
        lat = sorted(stats.pop("latency_ms"))
        result.update({
            "requests": stats["requests"], "accepted": stats["accepted"], "duplicates": stats["duplicates"],
            "rejected": stats["rejected"], "failed_requests": dict(stats["failed"]),
            "batches_ran_out": not bodies, "http_seconds": round(sent_s, 3),
            "http_accepted_per_s": round(stats["accepted"] / sent_s, 1) if sent_s > 0 else None,
            "request_p50_ms": round(percentile(lat, 0.5), 1) if lat else None,
            "request_p99_ms": round(percentile(lat, 0.99), 1) if lat else None,
            "kafka_events": dict(arrivals.by_type), "seconds": round(seconds, 3),
            "events_per_s": round(arrivals.total / seconds, 1) if seconds > 0 else None})
        result["foreign_services"] = sorted(set(result["foreign_services"]) |
                                            set(foreign_services(set(pids.values()), ("share_ingest",))))
    return result
