"""Where the CPU went during a phase: CPU seconds per process group, read from /proc.

Groups are the processes a phase started (by pid), plus Kafka (the JVM running kafka.Kafka),
Postgres (every process named postgres) and this benchmark process itself.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / TICKS


def _infra_pids() -> dict[str, list[int]]:
    found: dict[str, list[int]] = {"kafka": [], "postgres": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"kafka.Kafka" in cmd:
            found["kafka"].append(int(entry))
        elif cmd.startswith(b"postgres") or b"/postgres\x00" in cmd:
            found["postgres"].append(int(entry))
    return found


def foreign_services(own: set[int], names: tuple[str, ...]) -> list[str]:
    """Kaskade service processes this benchmark did not start (they would share its consumer groups)."""
    hits = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in own:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\x00")
        except OSError:
            continue
        for name in names:
            if b"-m" in argv and name.encode() in argv:
                hits.append(f"{name} (pid {entry})")
    return hits


@dataclass
class CpuMeter:
    """Start before a phase, `stop()` after it: CPU seconds per group over the wall time."""
    pids: dict[str, int]
    _start: dict[int, float] = field(default_factory=dict)
    _groups: dict[str, list[int]] = field(default_factory=dict)
    _t0: float = 0.0
    _machine0: float = 0.0

    def start(self) -> "CpuMeter":
        self._groups = {name: [pid] for name, pid in self.pids.items()}
        self._groups.update(_infra_pids())
        self._groups["bench"] = [os.getpid()]
        self._start = {p: _cpu_seconds(p) for pids in self._groups.values() for p in pids}
        self._machine0 = _machine_busy_seconds()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        """CPU use per group in cores over the phase (1.0 = one core busy all the time)."""
        wall = max(time.monotonic() - self._t0, 1e-6)
        # A process that exited meanwhile reads as 0: count nothing for it rather than a negative.
        used = {g: sum(max(_cpu_seconds(p) - self._start[p], 0.0) for p in pids) for g, pids in self._groups.items()}
        use = {g: round(sec / wall, 2) for g, sec in used.items()}
        use["total"] = round(sum(use.values()), 2)
        # Whatever else ran on the machine meanwhile (other sessions' tests, the kernel).
        use["other"] = round(max((_machine_busy_seconds() - self._machine0) / wall - use["total"], 0.0), 2)
        return use
