"""Kaskade end to end: the four real services as processes, fed through kaskade.intake.v1.

Every run uses a tenant of its own, so nothing an earlier run (or a test) left behind counts. The
services run under service names of their own (bench-<service>), so their consumer groups start
at the end of the topics: the dev stack's groups may hold a backlog (every reward the other bench
phases published waits for the dev notification group), which would be measured with the run.
"""
from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord

from bench.config import BENCH_GROUPS, LOG_DIR, ROOT, BenchConfig, fresh_logs
from bench.cpu import CpuMeter, foreign_services
from bench.groups import group_members
from bench.kafka_io import Tap, group_lag, producer, send_all
from bench.load import run_latency, run_throughput
from bench.messages import record_share
from kaskade_contracts import topics
from kaskade_devtools.groups import start_group_at_end
from kaskade_devtools.stack import SERVICES, Stack

IDLE_S = 2.0
GROUPS = BENCH_GROUPS
# What each main consumer group reads on the purchase path.
GROUP_INPUTS = {
    GROUPS["share_ingest"]: (topics.INTAKE.name,),
    GROUPS["attribution"]: (topics.SHARES.name, topics.CLICKS.name, topics.CONVERSIONS.name),
    GROUPS["reward"]: (topics.ATTRIBUTIONS.name,),
    GROUPS["notification"]: (topics.REWARDS.name,),
}
ALL_GROUPS = (*GROUPS.values(), f"{GROUPS['attribution']}-analytics")
# The busiest stage runs as deploy/README.md advises for a busy attribution (BENCH_SERVICE_ENV
# overrides it): two group members per subscription, so one batch's transaction overlaps the next
# one's decoding. Alternating runs gave 2,687-2,932 purchases/s with it against 2,519-2,783 without;
# the latency run pays for it (p50 171-186 ms at 500/s, against 125-130 ms).
E2E_SERVICE_ENV = {"KASKADE_ATTRIBUTION_CONSUME_MEMBERS": "2"}


def expected_members(service_env: dict[str, str], more_instances: tuple[str, ...]) -> dict[str, int]:
    """Members each main group has with only this run's processes in it: per instance, the
    service's KASKADE_<SERVICE>_CONSUME_MEMBERS (1 unless set)."""
    return {GROUPS[name]: int(service_env.get(f"KASKADE_{name.upper()}_CONSUME_MEMBERS", "1"))
                          * (1 + more_instances.count(name)) for name in SERVICES}


def tenant_records(tenant_id: str, event_type: str) -> Callable[[ConsumerRecord], bool]:
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
    except TimeoutError as exc:
        lag = await group_lag(cfg.bootstrap, GROUPS["share_ingest"], [topics.INTAKE.name])
        raise TimeoutError(f"{exc} (got {len(codes)}); share-ingest has {lag} records on {topics.INTAKE.name} "
                           f"still to process; see {LOG_DIR / 'share_ingest.log'}") from None
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


async def register_tenant(tenant: str) -> str:
    """The operator registers a tenant before it sends anything (share-ingest's admin CLI)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "share_ingest.admin", "create-tenant", tenant, "Kaskade benchmark", cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise TimeoutError("registering the benchmark's tenant took over 30s") from None
    if proc.returncode == 0:
        return "registered"
    if b"No module named share_ingest.admin" in err:
        return "no tenant registry"  # a share-ingest that creates tenants on first use
    raise RuntimeError(f"could not register tenant {tenant}: {err.decode(errors='replace')[-500:]}")


def _stop_stack(stack: Stack) -> dict[str, int | None]:
    return {name: p.stop(timeout=20) for name, p in reversed(list(stack.processes.items()))}


async def run_kaskade(cfg: BenchConfig, result: dict[str, Any]) -> dict[str, Any]:
    """Fills `result` as it goes, so a phase that fails midway still reports what it measured."""
    tenant = f"bench-{secrets.token_hex(4)}"
    names = {f"KASKADE_{svc.upper()}_SERVICE_NAME": group for svc, group in GROUPS.items()}
    service_env = {**E2E_SERVICE_ENV, **cfg.service_env}
    result.update({"tenant": tenant, "processes": len(SERVICES) + len(cfg.e2e_more_instances),
                   "service_env": service_env})
    stack = Stack(log_dir=LOG_DIR, http_port=cfg.http_port, extra_env={**names, **service_env})
    # What the phase is doing, for the report if it overruns its budget (bench.__main__).
    result["step"] = "moving the consumer groups to the topics' end"
    for group in ALL_GROUPS:
        await start_group_at_end(cfg.bootstrap, group, [t.name for t in topics.ALL])
    prod = producer(cfg.bootstrap)
    fresh_logs(LOG_DIR, *SERVICES)  # the services' logs then hold this run only
    try:
        result["step"] = "starting the services"
        # From the main thread: Stack's services die with the thread that started them.
        stack.start(timeout=cfg.startup_timeout_s)
        more = [stack.add_instance(name) for name in cfg.e2e_more_instances]
        if more:
            await asyncio.to_thread(stack.wait_ready, *more, timeout=cfg.startup_timeout_s)
        pids = {name: p.proc.pid for name, p in stack.processes.items() if p.proc is not None}
        result["foreign_services"] = foreign_services(set(pids.values()), SERVICES)
        result["step"] = "registering the tenant"
        result["tenant_registration"] = await register_tenant(tenant)
        await asyncio.wait_for(prod.start(), 30)
        t, result["step"] = time.monotonic(), "creating the referrers' shares"
        codes = await create_referrers(cfg, prod, tenant)
        result["referrers"] = {"count": len(codes), "seconds": round(time.monotonic() - t, 2),
                               "lag_left": await drain(cfg)}
        members = {"before": await group_members(cfg.bootstrap, list(GROUP_INPUTS))}
        # What the services burn doing nothing (polling, heartbeats, relay wake-ups): the floor
        # under the per-purchase cost measured next.
        result["step"] = "measuring the idle floor"
        idle = CpuMeter(pids).start()
        await asyncio.sleep(IDLE_S)
        result["idle_cpu_cores"] = idle.stop()
        # The median of cfg.kaskade_passes runs, each on drained services, as the ceiling's is of its
        # passes: three runs of 20,000 purchases in one phase gave 1,760, 2,838 and 2,908/s.
        runs = []
        for i in range(cfg.kaskade_passes):
            result["step"] = f"the throughput run ({i + 1} of {cfg.kaskade_passes})"
            runs.append(await run_throughput(cfg, prod, tenant, codes, pids))
            result["step"] = "waiting for the services to drain"
            result["lag_after_throughput"] = await drain(cfg)
        result["throughput"] = dict(sorted(runs, key=lambda r: r["per_s"])[len(runs) // 2])
        if len(runs) > 1:
            result["throughput"]["passes_per_s"] = [r["per_s"] for r in runs]
        result["step"] = "the latency run"
        result["latency"] = await run_latency(cfg, prod, tenant, codes, pids)
        result["step"] = "done"
        # Anyone else in the services' consumer groups shared (and rebalanced) the work: say so.
        members["after"] = await group_members(cfg.bootstrap, list(GROUP_INPUTS))
        result["group_members"] = members
        result["group_members_expected"] = expected_members(service_env, cfg.e2e_more_instances)
        result["foreign_services"] = sorted(set(result["foreign_services"]) |
                                            set(foreign_services(set(pids.values()), SERVICES)))
    finally:
        result["step"] = f"stopping the services (after: {result['step']})"
        await prod.stop()
        result["exit_codes"] = await asyncio.to_thread(_stop_stack, stack)
    return result
