"""The two reference pipelines, ceiling and naive: four stage processes over bench-only topics.

Both are timed the way Kaskade is: from the first record handed to the producer until the last
one reaches the fourth topic (where Kaskade's RewardGranted lands); the fourth stage consumes
it meanwhile, as notification does.
"""
from __future__ import annotations

import asyncio
import secrets
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, ConsumerRecord

from bench.config import LOG_DIR, ROOT, BenchConfig
from bench.cpu import CpuMeter
from bench.kafka_io import Tap, create_topics, delete_topics, producer, send_all
from bench.messages import HOP_MODELS, Outgoing, first_hop_inputs, hop_records

HOPS = len(HOP_MODELS)


async def _spawn(mode: str, hop: int, prefix: str, tenant: str) -> tuple[asyncio.subprocess.Process, Path]:
    ready = LOG_DIR / f"{mode}-stage{hop}.ready"
    ready.unlink(missing_ok=True)
    with (LOG_DIR / f"{mode}-stage{hop}.log").open("wb") as log:  # this run's only
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.stage", mode, str(hop), prefix, tenant, str(ready),
            cwd=ROOT, stdout=log, stderr=asyncio.subprocess.STDOUT)
    return proc, ready


async def _stop(proc: asyncio.subprocess.Process, ready: Path) -> None:
    ready.unlink(missing_ok=True)
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def _wait_ready(stages: list[tuple[asyncio.subprocess.Process, Path]], mode: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(ready.exists() for _, ready in stages):
        for hop, (proc, _) in enumerate(stages, 1):
            if proc.returncode is not None:
                raise RuntimeError(f"{mode} stage {hop} exited with {proc.returncode}; "
                                   f"see {LOG_DIR / f'{mode}-stage{hop}.log'}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{mode} stages not assigned their partitions after {timeout:.0f}s")
        await asyncio.sleep(0.1)


async def _prepare_naive_tables(dsn: str) -> None:
    conn = await asyncio.wait_for(asyncpg.connect(dsn), 15)
    try:
        for hop in range(1, HOPS + 1):
            await conn.execute(f"""CREATE TABLE IF NOT EXISTS kaskade_bench.naive_hop{hop} (
                                     event_id uuid PRIMARY KEY, recorded_at timestamptz NOT NULL DEFAULT now())""")
        await conn.execute("TRUNCATE " + ", ".join(f"kaskade_bench.naive_hop{h}" for h in range(1, HOPS + 1)))
    finally:
        await conn.close()


async def _naive_rows(dsn: str, want: int, timeout: float) -> list[int]:
    """Rows per hop table, once the last stage has stored them all (or the time is up)."""
    conn = await asyncio.wait_for(asyncpg.connect(dsn), 15)
    try:
        deadline = time.monotonic() + timeout
        while True:
            rows = [await conn.fetchval(f"SELECT count(*) FROM kaskade_bench.naive_hop{h}") for h in range(1, HOPS + 1)]
            if min(rows) >= want or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def _timed_pass(cfg: BenchConfig, mode: str, prod: AIOKafkaProducer, inputs: list[Outgoing],
                      stages: list[tuple[asyncio.subprocess.Process, Path]], tap: Tap,
                      seen: Callable[[], tuple[int, float, float]]) -> dict[str, Any]:
    """Send every input and time it until the last one is out of the last hop; `seen` gives
    (arrived, first arrival, last arrival) as the tap counts them, from 0 at the start."""
    count = len(inputs)
    meter = CpuMeter({f"stage{h}": p.pid for h, (p, _) in enumerate(stages, 1)}).start()
    t0 = time.monotonic()
    await asyncio.wait_for(send_all(prod, inputs), cfg.phase_timeout_s)
    sent_s = time.monotonic() - t0
    try:
        await tap.wait(lambda: seen()[0] >= count, cfg.phase_timeout_s - sent_s,
                       f"{count} {mode} messages on the last hop")
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}: only {seen()[0]} arrived") from None
    finally:
        cpu = meter.stop()
    _, first, last = seen()
    seconds = last - t0
    return {"messages": count, "seconds": round(seconds, 3), "per_s": round(count / seconds, 1),
            "send_s": round(sent_s, 3), "first_arrival_s": round(first - t0, 3), "cpu_cores": cpu}


async def run_pipeline(cfg: BenchConfig, mode: str) -> dict[str, Any]:
    """Run the `ceiling` or `naive` pipeline and return its figures: the ceiling's are those of the
    median of `cfg.ceiling_passes` timed passes, the naive pipeline's those of one."""
    count = cfg.ceiling_messages if mode == "ceiling" else cfg.naive_messages
    prefix, tenant = f"bench.{mode}", f"bench-{secrets.token_hex(4)}"
    topics = [f"{prefix}.hop{i}" for i in range(1, HOPS + 1)]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    if mode == "naive":
        if not cfg.bench_dsn:
            raise RuntimeError("KASKADE_BENCH_DATABASE_URL is not set: source deploy/local/env.sh")
        await _prepare_naive_tables(cfg.bench_dsn)
    # Built before the clock starts: the ceiling forwards raw bytes; naive stages decode envelopes
    # and store their ids, so each input must be a distinct, valid one.
    inputs = ([hop_records(tenant, topics)[0]] * count if mode == "ceiling"
              else first_hop_inputs(tenant, topics[0], count))
    arrived, first, last = 0, 0.0, 0.0

    def on_record(_: ConsumerRecord, now: float) -> None:
        nonlocal arrived, first, last
        arrived, last = arrived + 1, now
        first = first or now

    stages: list[tuple[asyncio.subprocess.Process, Path]] = []
    await create_topics(cfg.bootstrap, topics)
    async with AsyncExitStack() as cleanup:
        cleanup.push_async_callback(delete_topics, cfg.bootstrap, topics)
        for hop in range(1, HOPS + 1):
            stages.append(await _spawn(mode, hop, prefix, tenant))
            cleanup.push_async_callback(_stop, *stages[-1])
        await _wait_ready(stages, mode, cfg.startup_timeout_s)
        tap = Tap(cfg.bootstrap, [topics[-1]], on_record)
        await tap.start()
        cleanup.push_async_callback(tap.stop)
        prod = producer(cfg.bootstrap)
        await asyncio.wait_for(prod.start(), 30)
        cleanup.push_async_callback(prod.stop)

        if mode == "ceiling":
            # Untimed first: a broker started minutes ago (its JIT still cold) passed the same run
            # at half speed (6,202 against 10-12k msg/s), which flattered every ratio to the ceiling.
            warmup = max(count // 5, 1)
            await asyncio.wait_for(send_all(prod, inputs[:warmup]), cfg.phase_timeout_s)
            await tap.wait(lambda: arrived >= warmup, cfg.phase_timeout_s, f"{warmup} warm-up messages")
            arrived, first, last = 0, 0.0, 0.0
        runs = []
        for _ in range(cfg.ceiling_passes if mode == "ceiling" else 1):
            arrived, first, last = 0, 0.0, 0.0
            runs.append(await _timed_pass(cfg, mode, prod, inputs, stages, tap, lambda: (arrived, first, last)))
        # The median pass: one pass swung from 11.1k to 14.8k msg/s between runs, and the ratio to the
        # ceiling with it.
        result = dict(sorted(runs, key=lambda r: r["per_s"])[len(runs) // 2])
        result.update({"bytes_per_hop": [len(r.value) for r in hop_records(tenant, topics)],
                       "processes": HOPS})
        if len(runs) > 1:
            result["passes_per_s"] = [r["per_s"] for r in runs]
        if mode == "naive":
            result["rows_per_hop"] = await _naive_rows(cfg.bench_dsn, count, 30)
    return result
