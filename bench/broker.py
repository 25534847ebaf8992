"""The broker warmed up before any phase is timed.

Kafka runs on a JVM, which interprets the request paths at first and compiles them while they
serve load. On a broker started half an hour before, its JIT compiler threads had used 37 s of
CPU (C2 alone: 36.7 s, against 59 s for every request handler together), most of it while the
first phases ran: the phases measured a broker busy compiling. Attribution's first backlog saw
Kafka at 0.28-0.43 cores on a new broker and 0.11-0.12 once warm (6.6-7.2k against 8.4-8.6k
conversions/s), and the ceiling swung from 10.3k to 14k msg/s. A production broker runs for weeks.

So the pass-through pipeline runs untimed (produce, fetch, group commits: the paths every phase
uses) until a round leaves the compiler threads nearly idle, or MAX_ROUNDS have run.
"""
from __future__ import annotations

import os
from typing import Any

from bench.config import BenchConfig
from bench.cpu import TICKS
from bench.pipelines import run_pipeline

MAX_ROUNDS = 4
SETTLED_S = 1.0  # compiler CPU in a round (about 15 s of traffic) below which the broker counts as warm
_COMPILERS = (b"C1 CompilerThre", b"C2 CompilerThre")  # thread names, cut to 15 bytes by the kernel


def compiler_seconds() -> float | None:
    """CPU seconds the local broker's JIT compiler threads have used, or None without a local broker."""
    total, found = 0.0, False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"kafka.Kafka" not in f.read():
                    continue
            tasks = os.listdir(f"/proc/{entry}/task")
        except OSError:
            continue
        found = True
        for task in tasks:
            try:
                with open(f"/proc/{entry}/task/{task}/stat", "rb") as f:
                    head, _, rest = f.read().rpartition(b")")
            except OSError:
                continue
            if head.split(b"(", 1)[-1].startswith(_COMPILERS):
                fields = rest.split()
                total += (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    return total if found else None


async def warm_broker(cfg: BenchConfig) -> dict[str, Any]:
    """Run the untimed pipeline until the broker's JIT settles; what each round compiled, and its rate."""
    if compiler_seconds() is None:
        return {"skipped": "no local Kafka process to watch (a remote broker is warmed by its own load)"}
    rounds: list[dict[str, float]] = []
    for _ in range(MAX_ROUNDS):
        before = compiler_seconds() or 0.0
        ran = await run_pipeline(cfg, "ceiling")
        compiled = (compiler_seconds() or 0.0) - before
        rounds.append({"compiled_s": round(compiled, 2), "msg_per_s": ran["per_s"]})
        if compiled < SETTLED_S:
            break
    return {"rounds": rounds, "settled": rounds[-1]["compiled_s"] < SETTLED_S}
