"""Open-loop HTTP load at a fixed rate, in a process of its own (as wrk2 would be, were it packaged).

    python -m bench.openloop < spec.json      prints one JSON object on stdout

Spec: {"host", "port", "rate", "seconds", "connections", "codes", "drain_s", "warmup_s"}; the
requests are bench.visitors' mix. Request i is due at t0 + i/rate whatever the server does. The
first `warmup_s` of requests are sent at the same rate but not measured (wrk2 likewise leaves out
its calibration period): the figures are the server's steady state at that rate, not its first
moments after an idle spell. A due request
goes out on an idle keep-alive connection, or waits in a queue when all are busy, and its latency
counts from when it was due: a slow server cannot slow the offered load down and so hide its own
delay (coordinated omission). One still unanswered after `drain_s` counts as waiting until then.
`late_*` is how far behind schedule the generator itself sent the requests that found a free
connection: if that grows, the generator is the bottleneck.
"""
from __future__ import annotations

import asyncio
import math
import resource
import sys
import time
from collections import Counter, deque
from typing import Any

import orjson
import uvloop

from bench.visitors import raw_requests

# uvloop's loop.time() is libuv's cached millisecond clock: too coarse for latencies of a few ms.
clock = time.perf_counter


def _body_length(head: bytes) -> int:
    at = head.find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    end = head.find(b"\r\n", at + 2)
    return int(head[at + 17:end if end > 0 else len(head)])


class _Connection(asyncio.Protocol):
    def __init__(self, gen: "Generator") -> None:
        self.gen, self.buf = gen, bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buf[:end]).lower()
            length = _body_length(head)
            if len(self.buf) < end + 4 + length:
                return
            del self.buf[:end + 4 + length]
            self.gen.answered(self, int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        self.gen.lost(self)


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec, self.rate = spec, float(spec["rate"])
        self.warmup = int(self.rate * spec.get("warmup_s", 0.0))  # requests before this index are not measured
        self.n = self.warmup + max(int(self.rate * spec["seconds"]), 1)
        self.requests = raw_requests(spec["codes"], f"{spec['host']}:{spec['port']}", self.n)
        self.loop = asyncio.get_running_loop()
        self.idle: deque[_Connection] = deque()
        self.queue: deque[int] = deque()
        self.in_flight: dict[_Connection, int] = {}
        self.latency: list[float] = []
        self.answered_ids = bytearray(self.n)
        self.late: list[float] = []
        self.status: Counter[int] = Counter()
        self.errors = self.reconnect_errors = self.queue_max = 0
        self.t0 = self.last = 0.0
        self.done = False

    async def connect(self) -> None:
        conn = _Connection(self)
        await self.loop.create_connection(lambda: conn, self.spec["host"], self.spec["port"])
        self.idle.append(conn)

    def _send(self, conn: _Connection, i: int) -> None:
        self.in_flight[conn] = i
        assert conn.transport is not None
        conn.transport.write(self.requests[i])

    def due(self, i: int) -> None:
        if self.idle:
            if i >= self.warmup:
                self.late.append(clock() - (self.t0 + i / self.rate))
            self._send(self.idle.popleft(), i)
        else:
            self.queue.append(i)
            self.queue_max = max(self.queue_max, len(self.queue))

    def answered(self, conn: _Connection, status: int) -> None:
        i = self.in_flight.pop(conn)
        self.answered_ids[i] = 1
        if i >= self.warmup:
            self.last = clock()
            self.latency.append(self.last - (self.t0 + i / self.rate))
            self.status[status] += 1
        if self.queue:
            self._send(conn, self.queue.popleft())
        else:
            self.idle.append(conn)

    def lost(self, conn: _Connection) -> None:
        i = self.in_flight.pop(conn, None)
        if conn in self.idle:
            self.idle.remove(conn)
        if i is not None and i >= self.warmup:
            self.errors += 1
        if not self.done:  # e.g. the server closed an idle keep-alive connection: replace it
            self.loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        try:
            await self.connect()
        except OSError:
            self.reconnect_errors += 1

    async def run(self) -> dict[str, Any]:
        await asyncio.gather(*(self.connect() for _ in range(self.spec["connections"])))
        self.t0 = clock() + 0.05
        i = 0
        while i < self.n:
            due = min(self.n, max(int((clock() - self.t0) * self.rate) + 1, 0))
            while i < due:
                self.due(i)
                i += 1
            await asyncio.sleep(0.001)  # uvloop timers tick in whole milliseconds
        deadline = clock() + self.spec.get("drain_s", 10.0)
        while len(self.latency) + self.errors < self.n - self.warmup and clock() < deadline:
            await asyncio.sleep(0.01)
        self.done = True
        return self.figures(clock())

    def figures(self, end: float) -> dict[str, Any]:
        # A request never answered waited at least until the end: its latency counts as that, a
        # lower bound, rather than being left out (which would flatter an overloaded server).
        waited = [end - (self.t0 + i / self.rate) for i in range(self.warmup, self.n) if not self.answered_ids[i]]
        start = self.t0 + self.warmup / self.rate
        lat, late = sorted(self.latency + waited), sorted(self.late)

        def pct(xs: list[float], q: float) -> float | None:
            return round(xs[max(math.ceil(q * len(xs)) - 1, 0)] * 1000, 2) if xs else None

        cpu = resource.getrusage(resource.RUSAGE_SELF)
        answered = len(self.latency)
        measured = self.n - self.warmup
        return {"requests": measured, "warmup_requests": self.warmup, "answered": answered, "errors": self.errors,
                "unanswered": measured - answered - self.errors, "percentiles_are_lower_bounds": bool(waited),
                "reconnect_errors": self.reconnect_errors, "offered_per_s": self.rate,
                "seconds": round(self.last - start, 2) if answered else 0.0,
                "answered_per_s": round(answered / (self.last - start), 1) if answered else 0.0,
                "p50_ms": pct(lat, 0.5), "p90_ms": pct(lat, 0.9), "p99_ms": pct(lat, 0.99),
                "max_ms": pct(lat, 1.0), "late_p99_ms": pct(late, 0.99), "queue_max": self.queue_max,
                "status": {str(k): v for k, v in sorted(self.status.items())},
                "connections": self.spec["connections"], "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 2)}


async def main() -> None:
    spec = orjson.loads(sys.stdin.buffer.read())
    result = await Generator(spec).run()
    sys.stdout.buffer.write(orjson.dumps(result))


if __name__ == "__main__":
    uvloop.run(main())
