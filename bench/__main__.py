"""`python -m bench`: ceiling, Kaskade, naive, then share-ingest's redirect and batch door, in one
run; a table on stdout, JSON in .local/bench/.

Exit status 0 when every phase finished (targets missed are reported, not an error), 1 otherwise.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Awaitable

import orjson

from bench.attribution_alone import run_attribution
from bench.batch import run_batch
from bench.broker import warm_broker
from bench import cpu, database, devgroups, stuck
from bench.config import LOG_DIR, RESULT_PATH, BenchConfig
from bench.kaskade import run_kaskade
from bench.notify import run_notify
from bench.pipelines import run_pipeline
from bench.redirect import run_redirect
from bench.reward_alone import run_reward
from bench.report import http_warnings, render, summarize

# A backstop over the bounded steps inside each phase: no phase may hang the run.
PHASE_BUDGET_S = {"ceiling": 120.0, "kaskade": 300.0, "naive": 150.0, "redirect": 180.0, "batch": 180.0,
                  "attribution": 1200.0, "reward": 600.0, "notify": 900.0}
CEILING_AFTER = "ceiling-after-kaskade"
PHASE_BUDGET_S[CEILING_AFTER] = PHASE_BUDGET_S["ceiling"]


def _warnings(results: dict[str, Any]) -> list[str]:
    k, naive = results.get("kaskade") or {}, results.get("naive") or {}
    out = [f"the machine was still busy ({q['busy_cores']} cores) {q['waited_s']:.0f} s after the {phase} phase "
           "was due to start: its figures are low" for phase, q in (results.get("quiet_before") or {}).items()
           if q["busy_cores"] >= cpu.QUIET_CORES]
    if naive and min(naive.get("rows_per_hop") or [0]) < naive.get("messages", 0):
        out.append(f"the naive stages stored fewer rows than messages: {naive['rows_per_hop']}")
    if k.get("foreign_services"):
        out.append(f"other Kaskade service processes were running ({', '.join(k['foreign_services'])}); "
                   "they share the consumer groups, so Kaskade's figures may be off")
    for when, members in (k.get("group_members") or {}).items():
        expected = k.get("group_members_expected") or {}
        crowded = {g: n for g, n in (members or {}).items() if n > expected.get(g, 1)}
        if crowded:
            out.append(f"consumer groups had other members {when} the timed parts ({crowded}): someone else's "
                       "services or tests shared and rebalanced the work; Kaskade's figures are unreliable")
    lags = {"before the throughput run": (k.get("referrers") or {}).get("lag_left"),
            "before the latency run": k.get("lag_after_throughput")}
    for when, lag in lags.items():
        if lag and any(lag.values()):
            out.append(f"consumer groups still had records to catch up on {when}: {lag}")
    probes = [ms for pair in results.get("speed_probe_ms", {}).values() for ms in pair]
    if probes and max(probes) > cpu.SLOWER_WARNING * min(probes):
        out.append(f"the machine's speed probe ranged from {min(probes):.0f} to {max(probes):.0f} ms in this run: "
                   f"figures of the phases it was slow around are likely depressed (see speed_probe_ms)")
    return out + http_warnings(results)


def _with_ceiling_after(phases: Sequence[str]) -> list[str]:
    """The ceiling is timed again right after Kaskade when both run, so that the two figures of the
    ratio bracket the same minutes: this machine's speed drifts (bench.cpu.speed_probe_ms), and
    within one run the probe went from 112 to 159 ms between the ceiling's passes and Kaskade's."""
    out = list(phases)
    if "ceiling" in out and "kaskade" in out and out.index("ceiling") < out.index("kaskade"):
        out.insert(out.index("kaskade") + 1, CEILING_AFTER)
    return out


def _bracket_ceiling(results: dict[str, Any]) -> None:
    """The ceiling's figure: the median of its passes before and after Kaskade."""
    before, after = results.get("ceiling") or {}, results.pop(CEILING_AFTER, None) or {}
    if not before.get("passes_per_s") or not after.get("passes_per_s"):
        return
    before["passes_after_kaskade_per_s"] = after["passes_per_s"]
    before["per_s"] = round(statistics.median(before["passes_per_s"] + after["passes_per_s"]), 1)
    before["seconds"] = round(before["messages"] / before["per_s"], 3)
    before["after_kaskade"] = after


async def _run_phases(cfg: BenchConfig, runners: dict[str, Any], results: dict[str, Any], t0: float) -> None:
    for phase in _with_ceiling_after(cfg.phases):
        if phase not in runners:
            results["errors"][phase] = f"unknown phase (known: {', '.join(runners)})"
            continue
        print(f"[{time.monotonic() - t0:6.1f}s] {phase} ...", flush=True)
        results.setdefault("quiet_before", {})[phase] = await cpu.quiet()
        probes = results.setdefault("speed_probe_ms", {})[phase] = [cpu.speed_probe_ms()]
        try:
            results[phase] = {}
            results[phase] = await _within_budget(runners[phase](results[phase]), PHASE_BUDGET_S[phase])
        except Exception as exc:  # noqa: BLE001 - a failed phase is reported; the others still run
            results["errors"][phase] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, OverBudget):  # the backstop: say where the phase was
                step = results[phase].get("step") if isinstance(results.get(phase), dict) else None
                results["errors"][phase] = (f"over its budget of {PHASE_BUDGET_S[phase]:.0f} s"
                                            + (f", during: {step}" if step else ""))
            kept = _keep_logs(phase)
            if isinstance(exc, OverBudget):
                (kept / "waiting.txt").write_text(exc.waiting)
            print(f"         {phase} failed: {results['errors'][phase]}; logs kept in {kept}", flush=True)
        probes.append(cpu.speed_probe_ms())


class OverBudget(Exception):
    def __init__(self, waiting: str) -> None:
        super().__init__("over budget")
        self.waiting = waiting  # where every task and thread waited when the budget ran out


async def _within_budget(phase: Awaitable[Any], budget_s: float) -> Any:
    task = asyncio.ensure_future(phase)
    try:
        done, _ = await asyncio.wait({task}, timeout=budget_s)
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.wait({task}, timeout=60)
        raise
    if done:
        return task.result()
    waiting = stuck.describe()  # before the cancel unwinds the awaits
    task.cancel()
    await asyncio.wait({task}, timeout=60)  # its `finally`s stop what it started
    raise OverBudget(waiting)


def _keep_logs(phase: str) -> Path:
    """A copy of the processes' logs as the failed phase left them: the next run starts them anew."""
    kept = LOG_DIR / f"failed-{phase}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}"
    kept.mkdir(parents=True, exist_ok=True)
    for log in LOG_DIR.rglob("*.log"):
        where = log.relative_to(LOG_DIR)
        if not where.parts[0].startswith("failed-"):
            (kept / where).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(log, kept / where)
    return kept


async def main() -> int:
    # `kill` gets the same clean-up as Ctrl-C: every phase stops what it started on the way out.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)
    kept = database.use_fresh_database()  # before the config, which reads the DSNs
    print(f"database: {database.NAME}, new for this run" if kept is None else
          f"database: as the environment names it ({kept})", flush=True)
    cfg = BenchConfig()
    results: dict[str, Any] = {
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cpus": os.cpu_count(),
        "config": {k: v for k, v in cfg.__dict__.items() if "dsn" not in k}, "errors": {}}
    runners = {"ceiling": lambda _: run_pipeline(cfg, "ceiling"), "kaskade": lambda r: run_kaskade(cfg, r),
               CEILING_AFTER: lambda _: run_pipeline(cfg, "ceiling"),
               "naive": lambda _: run_pipeline(cfg, "naive"), "redirect": lambda r: run_redirect(cfg, r),
               "batch": lambda r: run_batch(cfg, r), "attribution": lambda r: run_attribution(cfg, r),
               "reward": lambda r: run_reward(cfg, r),
               "notify": lambda r: run_notify(cfg, r)}
    t0 = time.monotonic()
    behind = await devgroups.behind(cfg.bootstrap)
    try:
        if cfg.warm_broker:
            print(f"[{time.monotonic() - t0:6.1f}s] warming the broker (untimed pass-through rounds) ...", flush=True)
            try:
                warm = await warm_broker(cfg)
            except Exception as exc:  # noqa: BLE001 - the phases still run; the figures say the broker was cold
                warm = {"failed": f"{type(exc).__name__}: {exc}"}
            results["broker_warmup"] = warm
            print(f"         {warm}", flush=True)
        await _run_phases(cfg, runners, results, t0)
        _bracket_ceiling(results)
    finally:
        moved, refused = await devgroups.skip_benchmark_records(cfg.bootstrap, behind)
    results["dev_group_partitions_moved_past_the_bench"] = moved
    results["dev_group_partitions_behind_at_start"] = {g: len(p) for g, p in behind.items() if p}
    for g, why in refused.items():
        print(f"warning: dev group {g} still has this benchmark's records to read ({why})", flush=True)
    for g, partitions in behind.items():
        # One committed offset cannot skip the bench's records without skipping what was left before
        # them: the group reads them all first, and the tests or `make run` wait on it meanwhile.
        if partitions and g not in refused:
            print(f"warning: dev group {g} had {len(partitions)} partition(s) not read to the end when the "
                  f"benchmark started; whatever the benchmark put there waits for it too, before anything "
                  f"newer (`deploy/local/kafka.sh reset` empties the local broker)", flush=True)
    results["total_s"] = round(time.monotonic() - t0, 1)
    results["warnings"] = _warnings(results)
    results["summary"] = summarize(results)
    print(f"[{results['total_s']:6.1f}s] done\n")
    print(render(results, results["summary"]))
    RESULT_PATH.parent.mkdir(parents=True, exist_ok=True)
    # Figures read back from Postgres may be Decimals (sums); JSON takes them as numbers.
    RESULT_PATH.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2,
                                         default=lambda v: float(v) if isinstance(v, Decimal) else str(v)))
    print(f"\nfigures written to {RESULT_PATH}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: stages, services and bench topics were cleaned up", file=sys.stderr)
        sys.exit(130)
