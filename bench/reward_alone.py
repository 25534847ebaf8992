"""Reward on its own: the real service as a process, ConversionAttributed fed straight onto
kaskade.attributions.v1, verdicts counted on kaskade.rewards.v1. Each run is made twice: fed
live, as fast as the bench's producer can, which takes a share of the 2 cores; and working off
a backlog with the machine to itself (bench.backlog), the figures held against the targets.

Two runs, each its own tenant:
- hot: every reward on one campaign, so every grant hits one budget row. The budget covers
  BENCH_REWARD_FIT of the rewards: the rest must be declined, and the budget must end at exactly
  zero, never below (checked in the ledger afterwards);
- spread: the rewards spread over BENCH_REWARD_CAMPAIGNS campaigns, each with budget to spare.
Knobs: BENCH_REWARD_N (100,000 per run), BENCH_REWARD_CAMPAIGNS (60), BENCH_REWARD_FIT (0.9),
BENCH_REWARD_INSTANCES (2 processes in one consumer group, as ops scale it: they share the spread
run's partitions, never the hot one's), BENCH_REWARD_MEMBERS (2 Kafka group members per instance:
KASKADE_REWARD_CONSUME_MEMBERS), BENCH_REWARD_PORT (8760).

One instance leaves a core idle: its one Python thread tops out near 0.8 of a core (6.7k rewards/s
spread over the campaigns, the machine 1.35 cores busy); two instances made 10.6k/s in the same
hour. The backlog is 100,000 rewards because a group of instances starting together is stable only
4.5-7 s after they start (the broker waits 3 s for an empty group's members before assigning its
partitions, then each late join rebalances it); at 10k/s a backlog of 50,000 was gone by then.

The service runs in a consumer group of its own (reward-bench), started at the topics' end, so
neither a backlog nor another reward instance shares its work. The runs' rows stay, under their own
tenants, in the bench's database, which the next bench run re-creates (bench.database): the ledger
refuses deletes.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import time
from typing import Any

import asyncpg

from bench.backlog import work_off
from bench.config import LOG_DIR, BenchConfig, fresh_logs
from bench.cpu import CpuMeter
from bench.kafka_io import Tap, TenantEvents, producer, send_all
from bench.messages import outgoing
from kaskade_contracts import topics
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import (AttributionPath, CampaignDefined, CampaignStatus, CampaignTerms,
                                      ConversionAttributed, ConversionKind, RewardRule)
from kaskade_contracts.ids import uuid7
from kaskade_devtools.groups import start_group_at_end
from kaskade_devtools.stack import Stack

TARGET_HOT_PER_S = 5_000.0
TARGET_SPREAD_PER_S = 10_000.0
REWARD_MINOR = 100
GROUP = "reward-bench"
INPUTS = [topics.TENANTS.name, topics.CAMPAIGNS.name, topics.ERASURES.name, topics.ATTRIBUTIONS.name,
          topics.SHARES.name]
VERDICTS = ("RewardGranted", "RewardDeclined")


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


async def define(cfg: BenchConfig, conn: asyncpg.Connection, tenant: str, campaigns: list[str], budget: int) -> None:
    """Publish the campaigns and wait until reward has funded their budgets."""
    prod = producer(cfg.bootstrap)
    await prod.start()
    try:
        await send_all(prod, [outgoing(new_envelope(CampaignDefined(
            campaign_id=c, version=1, status=CampaignStatus.active, terms=CampaignTerms(
                landing_url="https://shop.example.com/", budget_minor=budget, holding_days=14,
                referrer_reward=RewardRule(amount_minor=REWARD_MINOR))), tenant_id=tenant)) for c in campaigns])
    finally:
        await prod.stop()
    deadline = time.monotonic() + cfg.startup_timeout_s
    while await conn.fetchval("SELECT count(*) FROM accounts WHERE tenant_id = $1 AND kind = 'campaign_budget'",
                              tenant) < len(campaigns):
        if time.monotonic() > deadline:
            raise TimeoutError(f"reward did not fund {len(campaigns)} campaign budgets")
        await asyncio.sleep(0.1)


def _budget_exact(ledger: dict[str, Any], n: int, fit: float) -> bool:
    """The budget covered int(n * fit) rewards: exactly those were granted, the rest declined, none overspent."""
    return ledger["lowest_budget"] == 0 and ledger["granted"] == int(n * fit) and ledger["declined"] == n - int(n * fit)


def attributions(tenant: str, campaigns: list[str], n: int) -> list[Any]:
    return [outgoing(new_envelope(ConversionAttributed(
        conversion_id=uuid7(), campaign_id=campaigns[i % len(campaigns)], kind=ConversionKind.purchase,
        amount_minor=4999, currency="EUR", referee_id=f"c{i}", referrer_id=f"r{i % 1000}", root_seeder_id="seed",
        generation=2, path=AttributionPath.click, upline=["seed"]), tenant_id=tenant)) for i in range(n)]


async def _tenant(cfg: BenchConfig, conn: asyncpg.Connection, campaigns: list[str], budget: int,
                  tenants: list[str]) -> str:
    """A fresh tenant with `campaigns`, each funded with `budget`."""
    tenant = f"bench-rw-{secrets.token_hex(4)}"
    tenants.append(tenant)
    await define(cfg, conn, tenant, campaigns, budget)
    return tenant


async def measure(cfg: BenchConfig, conn: asyncpg.Connection, campaigns: list[str], n: int, budget: int,
                  pids: dict[str, int], tenants: list[str]) -> dict[str, Any]:
    """A fresh tenant; feed n attributions; time until the last verdict is on kaskade.rewards.v1."""
    tenant = await _tenant(cfg, conn, campaigns, budget, tenants)
    records = attributions(tenant, campaigns, n)
    seen = TenantEvents(tenant, VERDICTS)
    tap = Tap(cfg.bootstrap, [topics.REWARDS.name], seen.on_record)
    prod = producer(cfg.bootstrap)
    await tap.start()
    await prod.start()
    try:
        cpu = CpuMeter(pids).start()
        t0 = time.monotonic()
        await send_all(prod, records)
        sent = time.monotonic() - t0
        await tap.wait(lambda: seen.total >= n, cfg.phase_timeout_s, f"{n} reward verdicts")
        seconds = seen.last - t0
        run = {"tenant": tenant, "rewards": n, "campaigns": len(campaigns), "seconds": round(seconds, 2),
               "per_s": round(n / seconds), "produce_s": round(sent, 2), "verdicts": dict(seen.by_type),
               "cpu_cores": cpu.stop()}
    finally:
        await prod.stop()
        await tap.stop()
    run["ledger"] = await ledger(conn, tenant)
    return run


async def from_backlog(cfg: BenchConfig, conn: asyncpg.Connection, stack: Stack, campaigns: list[str], n: int,
                       budget: int, tenants: list[str]) -> dict[str, Any]:
    """A fresh tenant; n attributions worked off a backlog with the machine to reward (bench.backlog)."""
    tenant = await _tenant(cfg, conn, campaigns, budget, tenants)
    members = len(stack.processes) * _int("BENCH_REWARD_MEMBERS", 2)
    run = await work_off(cfg, stack, GROUP, members, attributions(tenant, campaigns, n), topics.REWARDS.name,
                         TenantEvents(tenant, VERDICTS))
    run.update(tenant=tenant, campaigns=len(campaigns), ledger=await ledger(conn, tenant))
    return run


async def ledger(conn: asyncpg.Connection, tenant: str) -> dict[str, Any]:
    return dict(await conn.fetchrow(
        """SELECT min(balance) AS lowest_budget, sum(balance) AS budgets_left,
                  (SELECT count(*) FROM rewards WHERE tenant_id = $1 AND tx_id IS NOT NULL) AS granted,
                  (SELECT count(*) FROM rewards WHERE tenant_id = $1 AND tx_id IS NULL) AS declined
           FROM accounts WHERE tenant_id = $1 AND kind = 'campaign_budget'""", tenant))


async def run_reward(cfg: BenchConfig, result: dict[str, Any]) -> dict[str, Any]:
    n, spread, fit = _int("BENCH_REWARD_N", 100_000), _int("BENCH_REWARD_CAMPAIGNS", 60), \
        float(os.environ.get("BENCH_REWARD_FIT", 0.9))
    await start_group_at_end(cfg.bootstrap, GROUP, INPUTS)
    log_dir = LOG_DIR / "reward"
    fresh_logs(log_dir, "reward")
    stack = Stack(log_dir=log_dir, http_port=_int("BENCH_REWARD_PORT", 8760),
                  extra_env={"KASKADE_REWARD_CONSUME_MEMBERS": str(_int("BENCH_REWARD_MEMBERS", 2)),
                             **cfg.service_env, "KASKADE_REWARD_SERVICE_NAME": GROUP})
    conn = await asyncpg.connect(os.environ["KASKADE_REWARD_DATABASE_URL"], server_settings={"search_path": "reward"})
    tenants: list[str] = []
    try:
        stack.start("reward", timeout=cfg.startup_timeout_s)  # from the main thread, as Stack wants
        more = [stack.add_instance("reward") for _ in range(_int("BENCH_REWARD_INSTANCES", 2) - 1)]
        if more:
            await asyncio.to_thread(stack.wait_ready, *more, timeout=cfg.startup_timeout_s)
        pids = {name: p.proc.pid for name, p in stack.processes.items() if p.proc is not None}
        result["instances"] = len(pids)
        result["members_per_instance"] = _int("BENCH_REWARD_MEMBERS", 2)
        plenty = n * REWARD_MINOR * 10
        result["warmup"] = await measure(cfg, conn, ["warm"], max(n // 10, 1000), plenty, pids, tenants)
        result["hot"] = await measure(cfg, conn, ["hot"], n, int(n * fit) * REWARD_MINOR, pids, tenants)
        campaigns = [f"c{i:03d}" for i in range(spread)]
        result["spread"] = await measure(cfg, conn, campaigns, n, plenty, pids, tenants)
        result["hot_backlog"] = await from_backlog(cfg, conn, stack, ["hot"], n, int(n * fit) * REWARD_MINOR, tenants)
        result["spread_backlog"] = await from_backlog(cfg, conn, stack, campaigns, n, plenty, tenants)
        exact = {run: _budget_exact(result[run]["ledger"], n, fit) for run in ("hot", "hot_backlog")}
        result["hot_budget_exact"] = all(exact.values())
        hot, spread_per_s = result["hot_backlog"]["per_s"], result["spread_backlog"]["per_s"]
        result["targets"] = {"hot_per_s": TARGET_HOT_PER_S, "spread_per_s": TARGET_SPREAD_PER_S,
                             "met": hot >= TARGET_HOT_PER_S and result["hot_budget_exact"]
                             and spread_per_s >= TARGET_SPREAD_PER_S}
        print(f"         reward alone, from a backlog: {hot}/s on one campaign (budget exact: "
              f"{result['hot_budget_exact']}), {spread_per_s}/s over {spread} campaigns; fed live: "
              f"{result['hot']['per_s']}/s and {result['spread']['per_s']}/s "
              f"(targets >= {TARGET_HOT_PER_S:.0f}/s and >= {TARGET_SPREAD_PER_S:.0f}/s; {len(pids)} instance(s) x "
              f"{result['members_per_instance']} group members)", flush=True)
    finally:
        result["exit_codes"] = await asyncio.to_thread(stack.stop)
        result["tenants"] = tenants
        await conn.close()
    return result
