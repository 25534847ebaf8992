"""The HTTP load generators, each a process of its own: wrk (closed loop, as fast as the server
answers) and bench.openloop (a fixed offered rate). Both send bench.visitors' mix.

Each returns its figures plus `loadgen_cpu_s`, the CPU the generator process used (read from this
process's reaped children, so nothing else may be reaped meanwhile).
"""
from __future__ import annotations

import asyncio
import resource
import shutil
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.config import ROOT


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


async def _run(args: list[str], stdin: bytes | None, timeout: float) -> tuple[bytes, float]:
    cpu0 = _children_cpu_s()
    proc = await asyncio.create_subprocess_exec(*args, cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except BaseException:  # a timeout, or the bench itself being stopped: the generator goes too
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} exited with {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return out, round(_children_cpu_s() - cpu0, 2)


async def wrk(url: str, script: Path, seconds: float, connections: int, threads: int = 1) -> dict[str, Any]:
    """wrk's figures for `seconds` of closed-loop load: `per_s` counts every answer, `ok_per_s`
    those that were not 4xx/5xx."""
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (Debian: apt-get install -y wrk)")
    args = [binary, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s", "-s", str(script), url]
    out, cpu_s = await _run(args, None, seconds + 30)
    line = next((ln for ln in out.decode().splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no figures: {out.decode(errors='replace')[-500:]}")
    w = orjson.loads(line.removeprefix("WRK_JSON "))
    seconds_run = w["duration_us"] / 1e6
    return {"requests": w["requests"], "seconds": round(seconds_run, 2), "per_s": round(w["requests"] / seconds_run, 1),
            "ok_per_s": round((w["requests"] - w["status_errors"]) / seconds_run, 1),
            "connections": connections, "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000,
            "max_ms": w["max_us"] / 1000, "status_errors": w["status_errors"],
            "socket_errors": w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"],
            "loadgen_cpu_s": cpu_s}


async def open_loop(host: str, port: int, codes: list[str], rate: float, seconds: float,
                    connections: int, warmup_s: float = 0.0) -> dict[str, Any]:
    spec = {"host": host, "port": port, "codes": codes, "rate": rate, "seconds": seconds,
            "connections": connections, "drain_s": 10.0, "warmup_s": warmup_s}
    out, cpu_s = await _run([sys.executable, "-m", "bench.openloop"], orjson.dumps(spec), warmup_s + seconds + 40)
    return {**orjson.loads(out), "loadgen_cpu_s": cpu_s}


def with_loadgen(cpu: dict[str, float], loadgen_cpu_s: float, wall_s: float) -> dict[str, float]:
    """A CpuMeter reading with the generator's share moved out of `other` into its own group."""
    share = round(loadgen_cpu_s / max(wall_s, 1e-6), 2)
    return {**cpu, "loadgen": share, "total": round(cpu["total"] + share, 2),
            "other": round(max(cpu["other"] - share, 0.0), 2)}
