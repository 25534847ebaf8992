"""A service working off a backlog with the machine to itself: its records wait on its input topic
while its instances are stopped, then the instances start and consume them.

Fed live, the bench's producer takes a share of the 2 cores (0.15-0.2, plus Kafka's work taking
the records in) from the service measured; in production the producers run elsewhere.

The rate is the consumer group's, from its committed offsets while it went from 20% to 80% of the
backlog, counted from when the group was stable with all its members (`Committed`). Timing from
the first output to the last overstated it up to 2x: the instances consume while their relays
connect, so the first outputs land in one burst; and the tail is slow when the partitions are
spread unevenly over the group's members. Every output is then awaited and read back, and must
belong to the run.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from bench.config import BenchConfig
from bench.cpu import CpuMeter, quiet
from bench.kafka_io import Committed, Progress, TenantEvents, producer, send_all
from bench.messages import Outgoing
from kaskade_devtools.stack import Stack

LOW, HIGH = 0.2, 0.8


async def work_off(cfg: BenchConfig, stack: Stack, group: str, members: int, records: Sequence[Outgoing],
                   out_topic: str, expected: TenantEvents) -> dict[str, Any]:
    """Stop the stack, put `records` on their topic, wait for a quiet machine (bench.cpu.quiet),
    restart the stack, and measure how fast
    `group` (with `members` members once all have joined) works them off; every one must come
    out on `out_topic` as `expected` counts them."""
    n, in_topics = len(records), sorted({r.topic for r in records})
    await asyncio.to_thread(stack.stop)
    watch, consumed = Progress(cfg.bootstrap, [out_topic]), Committed(cfg.bootstrap, group, in_topics,
                                                                       members=members)
    prod = producer(cfg.bootstrap)
    await watch.start()
    await consumed.start()
    await prod.start()
    try:
        await send_all(prod, records)
        await prod.stop()
        before = await quiet()
        for key in stack.processes:  # from the event loop's thread: a child dies with the thread that started it
            stack.respawn(key)
        cores = await _cpu_while(consumed, n, stack, time.monotonic() + cfg.startup_timeout_s + cfg.phase_timeout_s)
        await watch.wait_for(out_topic, n, cfg.phase_timeout_s, f"{n} records on {out_topic} from the backlog")
        await watch.halt()
        await watch.read_back(expected.on_record, cfg.phase_timeout_s)
        if expected.total != n:
            raise RuntimeError(f"{n} records of the run expected on {out_topic}, read back {dict(expected.by_type)}")
        per_s, seconds = consumed.rate(n, LOW, HIGH)
        await asyncio.to_thread(stack.wait_ready, *stack.processes, timeout=cfg.startup_timeout_s)
        return {"records": n, "per_s": round(per_s), "steady_s": round(seconds, 2),
                "settled_after_s": round(consumed.settled_at - consumed.samples[0][0], 2),
                "all_s": round(watch.ended[out_topic] - consumed.samples[0][0], 2), "out": dict(expected.by_type),
                "cpu_cores": cores, "quiet_before": before}
    finally:
        await prod.stop()
        await consumed.stop()
        await watch.stop()


async def _cpu_while(consumed: Committed, n: int, stack: Stack, deadline: float) -> dict[str, float]:
    """CPU per process group over the window `Committed.rate` times: from LOW of the backlog (and
    the group settled) to HIGH."""
    cpu = None
    while not consumed.samples or consumed.samples[-1][1] < HIGH * n:
        if cpu is None and consumed.settled_at is not None and consumed.samples[-1][1] >= LOW * n:
            cpu = CpuMeter({name: p.proc.pid for name, p in stack.processes.items() if p.proc}).start()
        if time.monotonic() > deadline:
            raise TimeoutError(f"the group consumed {consumed.samples[-1:]} of {n} backlogged records")
        await asyncio.sleep(0.05)
    return cpu.stop() if cpu else {}
