"""Where the CPU went during a phase: CPU seconds per process group, read from /proc.

Groups are the processes a phase started (by pid), the Postgres backends serving each of them
(pg:<name>, found by client port), the rest of Postgres (other sessions, background writers),
Kafka (the JVM running kafka.Kafka) and this benchmark process itself.
"""
from __future__ import annotations

import asyncio
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


def _cmdlines() -> dict[int, bytes]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    out[int(entry)] = f.read()
            except OSError:
                continue
    return out


def _postgres_client_ports(pid: int) -> set[int]:
    """Local ports of `pid`'s connections to Postgres (5432): a backend's title names its client port."""
    try:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[2].endswith(":1538") and f"socket:[{cols[9]}]" in inodes:  # 0x1538 = 5432
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def _groups(named: dict[str, int]) -> dict[str, list[int]]:
    """Pids per group: the named processes, their Postgres backends, the rest of Postgres, Kafka."""
    groups: dict[str, list[int]] = {name: [pid] for name, pid in named.items()}
    owner = {port: name for name, pid in named.items() for port in _postgres_client_ports(pid)}
    groups.update({"kafka": [], "postgres": []})
    for pid, cmd in _cmdlines().items():
        if b"kafka.Kafka" in cmd:
            groups["kafka"].append(pid)
        elif cmd.startswith(b"postgres") or b"/postgres\x00" in cmd:
            port = cmd.rsplit(b"(", 1)[-1].split(b")", 1)[0]
            name = owner.get(int(port)) if port.isdigit() else None
            groups.setdefault(f"pg:{name}" if name else "postgres", []).append(pid)
    return groups


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
    """Start before a phase, `stop()` after it: CPU seconds per group over the wall time.

    Every process is read at the start and grouped at the end: a service's pool opens Postgres
    connections as its load grows, and backends born during the phase (all their CPU is the
    phase's) used to be left out of pg:<name> and show up as `other`, 0.2-0.35 cores of it."""
    pids: dict[str, int]
    _start: dict[int, float] = field(default_factory=dict)
    _t0: float = 0.0
    _machine0: float = 0.0

    def start(self) -> "CpuMeter":
        self._start = {int(e): _cpu_seconds(int(e)) for e in os.listdir("/proc") if e.isdigit()}
        self._machine0 = _machine_busy_seconds()
        self._t0 = time.monotonic()
        return self

    def stop(self) -> dict[str, float]:
        """CPU use per group in cores over the phase (1.0 = one core busy all the time)."""
        wall = max(time.monotonic() - self._t0, 1e-6)
        groups = _groups(self.pids)
        groups["bench"] = [os.getpid()]
        # A process that exited meanwhile reads as 0: count nothing for it rather than a negative.
        used = {g: sum(max(_cpu_seconds(p) - self._start.get(p, 0.0), 0.0) for p in pids) for g, pids in groups.items()}
        use = {g: round(sec / wall, 2) for g, sec in used.items()}
        use["total"] = round(sum(use.values()), 2)
        # Whatever else ran on the machine meanwhile (other sessions' tests, the kernel).
        use["other"] = round(max((_machine_busy_seconds() - self._machine0) / wall - use["total"], 0.0), 2)
        return use


QUIET_CORES = 0.4  # an idle broker, Postgres and a few idle services take 0.1-0.3


async def quiet(max_cores: float = QUIET_CORES, window_s: float = 1.0, timeout_s: float = 60.0) -> dict[str, float]:
    """Wait until the whole machine was busy less than `max_cores` over `window_s`, so a run does not
    share the cores with what an earlier one left running (attribution stores millions of rows:
    autovacuum, the kernel writing pages back). Returns how long it waited and the load it last
    saw; after `timeout_s` it goes on regardless, and the figures say so."""
    t0 = time.monotonic()
    while True:
        before = _machine_busy_seconds()
        await asyncio.sleep(window_s)
        busy = (_machine_busy_seconds() - before) / window_s
        waited = time.monotonic() - t0
        if busy < max_cores or waited >= timeout_s:
            return {"waited_s": round(waited, 1), "busy_cores": round(busy, 2)}


PROBE_LOOPS = 2_000_000
SLOWER_WARNING = 1.25  # the slowest probe of a run against its fastest


def speed_probe_ms() -> float:
    """CPU milliseconds a fixed pure-Python loop takes, on one core of a quiet machine. This is a
    shared virtual machine: the same loop took 112-162 ms within an hour, and in a slow hour the
    end-to-end phase gave 1,912-2,050 purchases/s against 2,967-2,994 with the same CPU shares per
    process (and the ceiling 7-8k msg/s against 13-14k). The probe
    around each phase says whether the machine was itself when the figures were taken."""
    t, total = time.process_time(), 0
    for i in range(PROBE_LOOPS):
        total += i * i
    return round((time.process_time() - t) * 1000, 1)
