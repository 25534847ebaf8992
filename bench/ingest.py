"""share-ingest on its own for the HTTP phases, a tenant and its referral links, the
hello-world process the redirect is held against.

share-ingest runs as in production: `python -m share_ingest` started by kaskade_devtools' Stack
(uvicorn, uvloop, one worker). The tenant is registered through the operator API and the links
are created over the public API, as a product backend would. What it publishes stays on the
topics, read by nobody: the other phases, the tests and `make run` run the services in consumer
groups of their own that start at the end of every topic, and the dev stack's groups are moved
past it when the benchmark ends (bench.devgroups).
"""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from bench.config import LOG_DIR, ROOT, BenchConfig, fresh_logs
from kaskade_devtools.stack import Stack
from kaskade_devtools.testing import register_tenant


def _port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _free(port: int) -> None:
    # Otherwise the readiness check would be answered by whoever holds the port (Stack checks its own).
    if _port_taken(port):
        raise RuntimeError(f"port {port} is in use; choose another with BENCH_HELLO_PORT")


RELAY_ENV = "KASKADE_SHARE_INGEST_RELAY"


def separate_relay(phase: str) -> bool:
    """Whether the phase's share-ingest relays its outbox from a second process, as ops would
    deploy an intake under load (BENCH_<PHASE>_RELAY=inline keeps it in the HTTP process)."""
    return os.environ.get(f"BENCH_{phase.upper()}_RELAY", "separate") != "inline"


@asynccontextmanager
async def share_ingest_alone(cfg: BenchConfig, phase: str, env: dict[str, str]) -> AsyncIterator[Stack]:
    """share-ingest as a process of its own, logging to .local/bench-logs/<phase>/share_ingest.log;
    with `separate_relay(phase)`, a second instance relays the outbox and the first serves HTTP only."""
    log_dir = LOG_DIR / phase
    fresh_logs(log_dir, "share_ingest")
    separate = separate_relay(phase)
    stack = Stack(log_dir=log_dir, http_port=cfg.ingest_port,
                  extra_env={**cfg.service_env, **env, RELAY_ENV: str(not separate).lower()})
    try:
        # From this thread, the main one, on purpose: Stack's services die with the thread that
        # started them, so not from a worker. It blocks the loop for the startup; nothing else runs yet.
        stack.start("share_ingest", timeout=cfg.startup_timeout_s)
        if separate:
            relay = stack.add_instance("share_ingest", env={RELAY_ENV: "true"})
            stack.wait_ready(relay, timeout=cfg.startup_timeout_s)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


def relay_pid(stack: Stack, phase: str) -> int | None:
    """The separate relay's process, if the phase runs one (the first instance added)."""
    p = stack.processes.get("share_ingest#2") if separate_relay(phase) else None
    return p.proc.pid if p is not None and p.proc is not None else None


def pid_of(stack: Stack) -> int:
    proc = stack.processes["share_ingest"].proc
    assert proc is not None
    return proc.pid


def still_running(stack: Stack, during: str) -> None:
    """Raise if share-ingest is gone: an exit code of 0 means a SIGTERM from outside the bench."""
    p = stack.processes["share_ingest"]
    code = p.proc.poll() if p.proc else None
    if code is not None:
        who = "someone else stopped it (SIGTERM; a cleanup by process name?)" if code == 0 else "it crashed"
        raise RuntimeError(f"share-ingest exited with {code} during {during}: {who}; see {p.log_path}")


@asynccontextmanager
async def hello_world(port: int, timeout: float) -> AsyncIterator[asyncio.subprocess.Process]:
    """bench.hello on `port`, up and answering."""
    _free(port)
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    with (LOG_DIR / "hello.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.hello", str(port), cwd=ROOT,
                                                    stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=2) as client:
            while True:
                if proc.returncode is not None:
                    raise RuntimeError(f"bench.hello exited with {proc.returncode}; see {LOG_DIR / 'hello.log'}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"bench.hello did not answer on port {port} within {timeout:.0f}s")
                await asyncio.sleep(0.1)
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def tenant_with_links(base_url: str, tenant: str, links: int) -> tuple[dict[str, str], list[str]]:
    """Register `tenant` (operator API) and record a share per sharer; returns its auth headers and
    the referral codes, in sharer order."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        auth = await register_tenant(client, tenant)

        async def share(i: int) -> str:
            r = await client.post("/v1/shares", json={"sharer_id": f"sharer-{i:04d}", "channel": "email"}, headers=auth)
            if r.status_code != 201:
                raise RuntimeError(f"POST /v1/shares answered {r.status_code}: {r.text[:300]}")
            return r.json()["referral_code"]

        codes: list[str] = []
        for start in range(0, links, 20):
            codes += await asyncio.gather(*(share(i) for i in range(start, min(start + 20, links))))
    return auth, codes


class AdminCounts:
    """Counts read straight from share-ingest's tables (KASKADE_ADMIN_DATABASE_URL)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, dsn: str) -> "AdminCounts":
        if not dsn:
            raise RuntimeError("KASKADE_ADMIN_DATABASE_URL is not set: source deploy/local/env.sh")
        return cls(await asyncio.wait_for(asyncpg.connect(dsn), 15))

    async def clicks(self, tenant: str) -> int:
        return await self.conn.fetchval("SELECT count(*) FROM share_ingest.clicks WHERE tenant_id = $1", tenant)

    async def settled_clicks(self, tenant: str, quiet_s: float = 0.5, timeout: float = 30.0) -> int:
        """The tenant's clicks once the count stops moving: a load generator that stops leaves
        requests in flight, which the server still answers (and records) afterwards."""
        deadline, count = time.monotonic() + timeout, await self.clicks(tenant)
        while time.monotonic() < deadline:
            await asyncio.sleep(quiet_s)
            if (now := await self.clicks(tenant)) == count:
                break
            count = now
        return count

    async def code_lookup(self) -> dict[str, Any]:
        """Whether a referral code can be found without reading every share: the redirect looks a
        link up by its code alone."""
        row = await self.conn.fetchrow(
            """SELECT c.reltuples::bigint AS shares,
                      EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a
                                ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                              WHERE i.indrelid = c.oid AND a.attname = 'referral_code') AS indexed
               FROM pg_class c WHERE c.oid = 'share_ingest.shares'::regclass""")
        return {"shares": row["shares"], "indexed_by_code": row["indexed"]}

    async def unpublished(self, tenant: str) -> int:
        """Events still waiting in the outbox for the relay, in bundles that hold the tenant's."""
        return await self.conn.fetchval(
            """SELECT coalesce(sum(event_count), 0) FROM share_ingest.outbox_bundles
               WHERE published_at IS NULL AND position(convert_to($1, 'UTF8') IN events) > 0""", tenant)

    async def close(self) -> None:
        await self.conn.close()
