"""The referral redirect, GET /r/{code}, against the hello-world ceiling on the same server stack.

share-ingest runs alone, its outbox relayed by a second process as for batch intake
(bench.ingest.separate_relay; BENCH_REDIRECT_RELAY=inline keeps one process); a tenant gets its
links; then browsers (new and returning visitors, bench.visitors) follow them from this machine.
Closed loop (wrk): the most answers per second. Open loop (bench.openloop) at a fixed offered
rate: latency. Both start with WARMUP_S of the same load that is not measured. Each measurement
is made on the hello-world app first, then on the redirect, with the same requests. The clicks the
redirect recorded are counted in share-ingest's table after each run, and as LinkClicked on Kafka
at the end.
"""
from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from typing import Any

import httpx

from bench.config import LOG_DIR, BenchConfig
from bench.cpu import CpuMeter, foreign_services
from bench.httpload import open_loop, with_loadgen, wrk
from bench.ingest import (AdminCounts, hello_world, pid_of, relay_pid, share_ingest_alone,
                          still_running, tenant_with_links)
from bench.kafka_io import Tap, TenantEvents
from bench.visitors import NEW_VISITORS, RETURNING, wrk_script
from kaskade_contracts import topics
from kaskade_devtools.stack import Stack

WARMUP_S = 2.0


async def _check(base_url: str, code: str) -> dict[str, Any]:
    """One visit by hand: a 302 to the landing page with a click id, and a visitor cookie."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        r = await client.get(f"/r/{code}", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"})
    ok = r.status_code == 302 and "kaskade_click=" in r.headers.get("location", "") and "kaskade_vid" in r.cookies
    if not ok:
        raise RuntimeError(f"GET /r/{code} answered {r.status_code} {dict(r.headers)}: not a recorded redirect")
    return {"status": r.status_code, "location": r.headers["location"]}


async def _measured(ingest: Stack, pids: dict[str, int], label: str, load: Awaitable[dict[str, Any]],
                    counts: AdminCounts | None, tenant: str) -> dict[str, Any]:
    """Run one load, with the CPU it cost per process and, for the redirect, the clicks it recorded."""
    before = await counts.settled_clicks(tenant) if counts else 0
    meter, t0 = CpuMeter(pids).start(), time.monotonic()
    try:
        figures = await load
    finally:  # a generator failing because share-ingest vanished should say so
        still_running(ingest, label)
    figures["cpu_cores"] = with_loadgen(meter.stop(), figures.pop("loadgen_cpu_s"), time.monotonic() - t0)
    if counts:
        figures["clicks"] = await counts.settled_clicks(tenant) - before
        # The clicks of an open loop's warmup are in the count too: per second of everything sent.
        warmup_s = figures.get("warmup_requests", 0) / figures["offered_per_s"] if "offered_per_s" in figures else 0.0
        figures["clicks_per_s"] = round(figures["clicks"] / max(figures["seconds"] + warmup_s, 1e-3), 1)
    return figures


async def run_redirect(cfg: BenchConfig, result: dict[str, Any]) -> dict[str, Any]:
    """Fills `result` as it goes, so a phase that fails midway still reports what it measured."""
    tenant = f"bench-{secrets.token_hex(4)}"
    result.update({"tenant": tenant, "links": cfg.redirect_links,
                   "visitors": {"new": NEW_VISITORS, "returning": round(1 - NEW_VISITORS, 2),
                                "returning_pool": RETURNING}})
    async with AsyncExitStack() as cleanup:
        ingest = await cleanup.enter_async_context(share_ingest_alone(cfg, "redirect", {}))
        hello = await cleanup.enter_async_context(hello_world(cfg.hello_port, cfg.startup_timeout_s))
        counts = await AdminCounts.connect(cfg.admin_dsn)
        cleanup.push_async_callback(counts.close)
        pids = {"share_ingest": pid_of(ingest), "hello": hello.pid}
        if relay := relay_pid(ingest, "redirect"):
            pids["share_ingest_relay"] = relay
        result["foreign_services"] = foreign_services(set(pids.values()), ("share_ingest",))
        result["code_lookup"] = await counts.code_lookup()
        _, codes = await tenant_with_links(ingest.base_url, tenant, cfg.redirect_links)
        published = TenantEvents(tenant, ["LinkClicked"])
        tap = Tap(cfg.bootstrap, [topics.CLICKS.name], published.on_record)
        await tap.start()
        cleanup.push_async_callback(tap.stop)
        result["check"] = await _check(ingest.base_url, codes[0])
        script = LOG_DIR / "redirect" / "visitors.lua"
        script.write_text(wrk_script(codes))
        targets = {"ceiling": (cfg.hello_port, None), "redirect": (cfg.ingest_port, counts)}

        result["closed_loop"] = closed = {}
        for name, (port, counter) in targets.items():
            url = f"http://127.0.0.1:{port}"
            await wrk(url, script, WARMUP_S, cfg.redirect_connections)
            closed[name] = await _measured(ingest, pids, f"the closed-loop {name} run",
                                           wrk(url, script, cfg.redirect_seconds, cfg.redirect_connections),
                                           counter, tenant)
        result["fixed_rate"] = fixed = {}
        for name, (port, counter) in targets.items():
            fixed[name] = await _measured(ingest, pids, f"the fixed-rate {name} run",
                                          open_loop("127.0.0.1", port, codes, cfg.redirect_rate,
                                                    cfg.redirect_rate_seconds, cfg.open_loop_connections,
                                                    warmup_s=WARMUP_S),
                                          counter, tenant)
        recorded = result["clicks_recorded"] = await counts.settled_clicks(tenant)
        try:  # every click the redirect stored should reach Kafka, through the outbox
            await tap.wait(lambda: published.total >= recorded, 30, f"{recorded} LinkClicked on {topics.CLICKS.name}")
        finally:
            result["clicks_on_kafka"] = published.total
        result["foreign_services"] = sorted(set(result["foreign_services"]) |
                                            set(foreign_services(set(pids.values()), ("share_ingest",))))
    return result
