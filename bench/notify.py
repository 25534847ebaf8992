"""notification's delivery speed: webhooks to a local receiver, emails to a local SMTP server,
and ten tenants of which one endpoint answers only after 10 s.

notification runs as its own process (Stack); this process feeds kaskade.rewards.v1 and hosts
the receiver (aiohttp) and a minimal SMTP sink, so what is measured is notification's consumer
and delivery loops. Rates are counted where the deliveries arrive: from the first to the last.

BENCH_NOTIFY_WEBHOOKS (events per run over ten tenants), BENCH_NOTIFY_ROUNDS (runs of each webhook
measurement), BENCH_NOTIFY_EMAILS, BENCH_NOTIFY_SLOW_S, BENCH_NOTIFY_PORT (the stack's base port;
notification listens on base + 3).
"""
from __future__ import annotations

import asyncio
import os
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from statistics import median
from typing import Any

import asyncpg
import httpx
from aiohttp import web

from bench.config import LOG_DIR, BenchConfig, fresh_logs
from bench.cpu import CpuMeter, foreign_services
from kaskade_contracts import topics
from kaskade_contracts.campaigns import CampaignStatus, CampaignTerms
from kaskade_contracts.envelope import new_envelope
from kaskade_contracts.events import (ApiKeyChanged, CampaignDefined, CustomerProfileUpdated, RewardGranted, RewardKind,
                                      RewardRole)
from kaskade_devtools.groups import start_group_at_end
from kaskade_devtools.stack import Stack
from kaskade_devtools.testing import produce
from kaskade_platform import apikeys

TARGET_WEBHOOKS_PER_S = 2000.0
TARGET_EMAILS_PER_S = 500.0
TARGET_ISOLATION = 0.9
TENANTS = 10


class Receiver:
    """Webhook endpoints at /{tenant}: 200 at once, or after `slow_s` for the slow tenant."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.gate = asyncio.Event()  # closed: requests wait, so a backlog builds up in notification
        self.slow: set[str] = set()
        self.slow_s = 10.0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        await request.read()
        await self.gate.wait()
        if tenant in self.slow:
            await asyncio.sleep(self.slow_s)
        self.arrivals[tenant].append(time.monotonic())
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tenant}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port the OS chose

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


class SmtpSink:
    """Just enough SMTP to accept mail quickly and count it (the tests use a real aiosmtpd)."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink ESMTP\r\n")
        try:
            while line := await reader.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    while await reader.readline() not in (b".\r\n", b""):
                        pass
                    self.arrivals.append(time.monotonic())
                    writer.write(b"250 queued\r\n")
                elif verb == b"QUIT":
                    writer.write(b"221 bye\r\n")
                    break
                else:
                    writer.write(b"250 sink\r\n")
                await writer.drain()
        finally:
            writer.close()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server:
            self._server.close()


def granted(tenant: str, recipient: str) -> Any:
    return new_envelope(RewardGranted(
        reward_id=uuid.uuid4(), idempotency_key=uuid.uuid4().hex, campaign_id="default", conversion_id=uuid.uuid4(),
        rule_id="referrer", recipient_id=recipient, role=RewardRole.referrer, kind=RewardKind.account_credit,
        amount_minor=500, currency="EUR", generation=1), tenant_id=tenant)


def rate(arrivals: list[float]) -> float | None:
    return round(len(arrivals) / (max(arrivals) - min(arrivals)), 1) if len(arrivals) > 1 else None


async def until(done: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.1)


async def register(cfg: BenchConfig, api: httpx.AsyncClient, tenant: str, url: str) -> tuple[str, dict[str, str]]:
    """A key announced as share-ingest would, then the tenant's endpoint (once the key has arrived)."""
    key = apikeys.mint()
    await produce(cfg.bootstrap, [new_envelope(ApiKeyChanged(key_id=key.key_id, secret_hash=key.secret_hash.hex()),
                                               tenant_id=tenant)])
    auth = {"Authorization": f"Bearer {key.token}"}
    deadline = time.monotonic() + 60
    while (r := await api.post("/v1/webhooks/endpoints", json={"url": url, "event_types": ["reward.granted"]},
                               headers=auth)).status_code == 401:
        if time.monotonic() > deadline:
            raise TimeoutError("notification did not learn the bench tenant's API key")
        await asyncio.sleep(0.2)
    r.raise_for_status()
    return r.json()["endpoint_id"], auth


async def webhook_run(cfg: BenchConfig, api: httpx.AsyncClient, receiver: Receiver, run: str, per_tenant: int,
                      slow: bool, meter: Callable[[], CpuMeter] | None = None) -> dict[str, Any]:
    tenants = [f"bench-notify-{run}-{i}" for i in range(TENANTS)]
    endpoints = [await register(cfg, api, t, f"http://127.0.0.1:{receiver.port}/{t}") for t in tenants]
    await without_email(cfg, tenants)
    if slow:
        receiver.slow.add(tenants[0])
    fast = tenants[1:] if slow else tenants
    # The receiver holds its first requests until every event is stored as a delivery, so what is
    # timed is delivering (not how fast this process can produce). Interleaved: all tenants are due together.
    receiver.gate.clear()
    started = time.monotonic()
    await produce(cfg.bootstrap, [granted(t, f"c{i}") for i in range(per_tenant) for t in tenants])
    await caught_up(cfg, [t for t in tenants], per_tenant)
    backlog_s = time.monotonic() - started
    cpu = meter() if meter else None
    receiver.gate.set()
    await until(lambda: all(len(receiver.arrivals[t]) >= per_tenant for t in fast), 300, "the deliveries")
    cpu_cores = cpu.stop() if cpu else None
    nine = [a for t in tenants[1:] for a in receiver.arrivals[t]]
    out = {"backlog_built_s": round(backlog_s, 1), "cpu_cores": cpu_cores, "deliveries": sum(len(receiver.arrivals[t]) for t in tenants), "per_s": rate([a for t in tenants for a in
                                                                                       receiver.arrivals[t]]),
           "nine_per_s": rate(nine)}
    if slow:
        out["per_s"] = rate([a for t in fast for a in receiver.arrivals[t]])
        out["slow_tenant_delivered"] = len(receiver.arrivals[tenants[0]])
    # Deleting the endpoints drops what is left (the slow one's backlog would take hours at its pace).
    for endpoint_id, auth in endpoints:
        (await api.delete(f"/v1/webhooks/endpoints/{endpoint_id}", headers=auth)).raise_for_status()
    return out


async def without_email(cfg: BenchConfig, tenants: list[str]) -> None:
    """The webhook runs' campaigns send no email (the customers have no contacts anyway): what is
    measured is webhooks, and no email jobs are left behind to wait for contacts that never come."""
    terms = CampaignTerms(landing_url="https://shop.example/", notify_by_email=False)
    await produce(cfg.bootstrap, [new_envelope(CampaignDefined(campaign_id="default", version=1,
                                                               status=CampaignStatus.active, terms=terms),
                                               tenant_id=t) for t in tenants])
    conn = await asyncpg.connect(cfg.admin_dsn)
    try:
        deadline = time.monotonic() + 60
        while await conn.fetchval("SELECT count(*) FROM notification.campaigns WHERE tenant_id = ANY($1)",
                                  tenants) < len(tenants):
            if time.monotonic() > deadline:
                raise TimeoutError("notification did not store the bench campaigns")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def caught_up(cfg: BenchConfig, tenants: list[str], per_tenant: int) -> None:
    conn = await asyncpg.connect(cfg.admin_dsn)
    try:
        deadline = time.monotonic() + 120
        while await conn.fetchval("SELECT count(*) FROM notification.webhook_deliveries WHERE tenant_id = ANY($1)",
                                  tenants) < per_tenant * len(tenants):
            if time.monotonic() > deadline:
                raise TimeoutError("notification did not store the deliveries")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def email_run(cfg: BenchConfig, sink: SmtpSink, run: str, count: int) -> dict[str, Any]:
    tenant = f"bench-notify-{run}-mail"
    await produce(cfg.bootstrap, [new_envelope(CustomerProfileUpdated(customer_id=f"c{i}", email=f"c{i}@bench.test"),
                                               tenant_id=tenant) for i in range(count)])
    conn = await asyncpg.connect(cfg.admin_dsn)
    try:
        async def stored() -> int:
            return await conn.fetchval("SELECT count(*) FROM notification.contacts WHERE tenant_id = $1", tenant)
        deadline = time.monotonic() + 120
        while await stored() < count:
            if time.monotonic() > deadline:
                raise TimeoutError("the bench customers' contacts did not arrive")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    before = len(sink.arrivals)
    await produce(cfg.bootstrap, [granted(tenant, f"c{i}") for i in range(count)])
    await until(lambda: len(sink.arrivals) - before >= count, 300, "the emails")
    return {"emails": count, "per_s": rate(sink.arrivals[before:])}


async def run_notify(cfg: BenchConfig, results: dict[str, Any]) -> dict[str, Any]:
    webhooks = int(os.environ.get("BENCH_NOTIFY_WEBHOOKS", 20_000))
    emails = int(os.environ.get("BENCH_NOTIFY_EMAILS", 5_000))
    rounds = int(os.environ.get("BENCH_NOTIFY_ROUNDS", 2))
    receiver, sink = Receiver(), SmtpSink()
    receiver.slow_s = float(os.environ.get("BENCH_NOTIFY_SLOW_S", 10.0))
    await receiver.start()
    receiver.gate.set()
    await sink.start()
    run = secrets.token_hex(4)
    # A group of its own, at the end of kaskade.rewards.v1: the default one may still have the
    # reward phase's hundreds of thousands of rewards to read, before anything of this phase's.
    group = f"notification-bench-{run}"
    await start_group_at_end(cfg.bootstrap, group, [t.name for t in topics.ALL])
    env = {"KASKADE_NOTIFICATION_WEBHOOK_ALLOW_LOOPBACK": "true", "KASKADE_NOTIFICATION_SMTP_PORT": str(sink.port),
           "KASKADE_NOTIFICATION_WEBHOOK_TIMEOUT_S": str(max(receiver.slow_s + 5, 60)),
           "KASKADE_NOTIFICATION_SERVICE_NAME": group, **cfg.service_env}
    fresh_logs(LOG_DIR / "notify", "notification")
    stack = Stack(LOG_DIR / "notify", http_port=int(os.environ.get("BENCH_NOTIFY_PORT", 8200)), extra_env=env)
    foreign: list[str] = []
    try:
        await asyncio.to_thread(stack.start, "notification")
        meter_of = lambda: CpuMeter({"notification": stack.processes["notification"].proc.pid}).start()  # noqa: E731
        async with httpx.AsyncClient(base_url=stack.url("notification"), timeout=30) as api:
            # Warm-up: connections to the receiver and the database are opened, code paths run once.
            await webhook_run(cfg, api, receiver, f"{run}-w", 50, slow=False)
            # Other work on the machine moves single runs a lot: each measurement is made `rounds`
            # times, the unslowed and the slowed run side by side, and the median reported.
            unslowed, slowed = [], []
            for r in range(rounds):
                unslowed.append(await webhook_run(cfg, api, receiver, f"{run}-a{r}", webhooks // TENANTS,
                                                  slow=False, meter=meter_of))
                slowed.append(await webhook_run(cfg, api, receiver, f"{run}-b{r}", webhooks // TENANTS, slow=True,
                                                meter=meter_of))
            fractions = [b["nine_per_s"] / a["nine_per_s"] for a, b in zip(unslowed, slowed)
                         if a["nine_per_s"] and b["nine_per_s"]]
            results["webhooks"] = {"per_s": median([a["per_s"] for a in unslowed]), "runs": unslowed}
            results["isolation"] = {"fraction_of_unslowed": round(median(fractions), 3) if fractions else None,
                                    "fractions": [round(f, 3) for f in fractions], "runs": slowed}
            meter = meter_of()
            results["email"] = await email_run(cfg, sink, run, emails)
            results["email"]["cpu_cores"] = meter.stop()
        own = {os.getpid(), stack.processes["notification"].proc.pid}
        foreign = foreign_services(own, ("notification",))
    finally:
        await asyncio.to_thread(stack.stop)
        await receiver.stop()
        await sink.stop()
    if foreign:
        results["warnings"] = [f"other notification processes were running ({', '.join(foreign)}): they take the "
                               "CPU this phase measures with; the figures are unreliable"]
    results["targets"] = {
        "webhooks_per_s": [TARGET_WEBHOOKS_PER_S, (results.get("webhooks") or {}).get("per_s")],
        "emails_per_s": [TARGET_EMAILS_PER_S, (results.get("email") or {}).get("per_s")],
        "isolation": [TARGET_ISOLATION, (results.get("isolation") or {}).get("fraction_of_unslowed")]}
    t = results["targets"]
    print(f"         notification alone: {t['webhooks_per_s'][1]} webhooks/s, {t['emails_per_s'][1]} emails/s, the "
          f"other nine tenants keep {t['isolation'][1]} of their rate beside a 10 s endpoint (targets >= "
          f"{TARGET_WEBHOOKS_PER_S:.0f}/s, >= {TARGET_EMAILS_PER_S:.0f}/s, >= {TARGET_ISOLATION})", flush=True)
    return results
