"""The benchmark's knobs, all from the environment so `make bench` needs no arguments.

BENCH_PHASES (ceiling,kaskade,naive,redirect,batch), BENCH_CEILING (messages per pass), BENCH_CEILING_PASSES
(3 timed passes; the median counts), BENCH_PURCHASES (per throughput run), BENCH_KASKADE_PASSES (3 throughput
runs; the median counts),
BENCH_REFERRERS, BENCH_RATE and BENCH_LATENCY_S (the paced latency run), BENCH_NAIVE (messages),
BENCH_HTTP_PORT, BENCH_SERVICE_ENV ("K=V K=V" for the services), BENCH_STARTUP_TIMEOUT_S,
BENCH_PHASE_TIMEOUT_S, BENCH_E2E_MORE_INSTANCES (services of the end-to-end phase that run one more
instance each, e.g. "attribution"); BENCH_CEILING_MAX_RECORDS is read by the ceiling's stages (bench.stage).
The HTTP phases: BENCH_INGEST_PORT and BENCH_HELLO_PORT (share-ingest alone and the hello-world
ceiling), BENCH_REDIRECT_LINKS, BENCH_REDIRECT_S and BENCH_REDIRECT_CONNECTIONS (wrk),
BENCH_REDIRECT_RATE, BENCH_REDIRECT_RATE_S and BENCH_OPEN_LOOP_CONNECTIONS (the fixed-rate run),
BENCH_BATCH_S, BENCH_BATCH_CLIENTS, BENCH_BATCH_ITEMS, BENCH_BATCH_HTTP_INSTANCES.
BENCH_WARM_BROKER=0 skips warming the broker up before the phases (bench.broker).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / ".local" / "bench-logs"
# The service name each service runs under in the end-to-end phase, which is also its consumer
# group's id: groups of its own, started at the end of the topics, never the dev stack's.
BENCH_GROUPS = {"share_ingest": "bench-share-ingest", "attribution": "bench-attribution", "reward": "bench-reward",
                "notification": "bench-notification"}
RESULT_PATH = ROOT / ".local" / "bench" / "last.json"


def fresh_logs(log_dir: Path, *services: str) -> None:
    """Remove the services' logs of an earlier run, the extra instances' (`<name>-<n>.log`, Stack's
    naming) too: those were appended to run after run, up to 46 MB for the batch phase."""
    for name in services:
        for log in (log_dir / f"{name}.log", *log_dir.glob(f"{name}-[0-9]*.log")):
            log.unlink(missing_ok=True)

# What Kaskade has to reach on this machine to pass.
TARGET_PURCHASES_PER_S = 1000.0
TARGET_CEILING_FRACTION = 0.2
TARGET_NAIVE_MULTIPLE = 3.0
TARGET_REDIRECT_PER_S = 3000.0
TARGET_REDIRECT_P99_MS = 25.0
TARGET_REDIRECT_CEILING_FRACTION = 0.5
TARGET_BATCH_EVENTS_PER_S = 20_000.0


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def _pairs(name: str) -> dict[str, str]:
    """`K=V K=V` from the environment, e.g. to try a service setting without editing anything."""
    return dict(item.split("=", 1) for item in os.environ.get(name, "").split() if "=" in item)


@dataclass(frozen=True)
class BenchConfig:
    bootstrap: str = field(default_factory=lambda: os.environ.get("KASKADE_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    bench_dsn: str = field(default_factory=lambda: os.environ.get("KASKADE_BENCH_DATABASE_URL", ""))
    # Read-only use: counting the HTTP phases' clicks and unpublished outbox rows in share-ingest's schema.
    admin_dsn: str = field(default_factory=lambda: os.environ.get("KASKADE_ADMIN_DATABASE_URL", ""))
    ceiling_messages: int = field(default_factory=lambda: _int("BENCH_CEILING", 100_000))
    ceiling_passes: int = field(default_factory=lambda: max(_int("BENCH_CEILING_PASSES", 3), 1))
    referrers: int = field(default_factory=lambda: _int("BENCH_REFERRERS", 200))
    purchases: int = field(default_factory=lambda: _int("BENCH_PURCHASES", 20_000))
    kaskade_passes: int = field(default_factory=lambda: max(_int("BENCH_KASKADE_PASSES", 3), 1))
    latency_rate: float = field(default_factory=lambda: _float("BENCH_RATE", 500.0))
    latency_seconds: float = field(default_factory=lambda: _float("BENCH_LATENCY_S", 10.0))
    naive_messages: int = field(default_factory=lambda: _int("BENCH_NAIVE", 5_000))
    http_port: int = field(default_factory=lambda: _int("BENCH_HTTP_PORT", 8100))
    # Extra environment for the four services, e.g. "KASKADE_REWARD_CONSUME_MAX_RECORDS=1000".
    service_env: dict[str, str] = field(default_factory=lambda: _pairs("BENCH_SERVICE_ENV"))
    # Bounds: a phase that has not finished by then fails the bench instead of hanging it.
    startup_timeout_s: float = field(default_factory=lambda: _float("BENCH_STARTUP_TIMEOUT_S", 60.0))
    phase_timeout_s: float = field(default_factory=lambda: _float("BENCH_PHASE_TIMEOUT_S", 90.0))
    # The HTTP phases: share-ingest on its own, and the hello-world app answering like it.
    ingest_port: int = field(default_factory=lambda: _int("BENCH_INGEST_PORT", 8500))
    hello_port: int = field(default_factory=lambda: _int("BENCH_HELLO_PORT", 8501))
    redirect_links: int = field(default_factory=lambda: _int("BENCH_REDIRECT_LINKS", 100))
    redirect_seconds: float = field(default_factory=lambda: _float("BENCH_REDIRECT_S", 10.0))
    redirect_connections: int = field(default_factory=lambda: _int("BENCH_REDIRECT_CONNECTIONS", 32))
    redirect_rate: float = field(default_factory=lambda: _float("BENCH_REDIRECT_RATE", 3000.0))
    redirect_rate_seconds: float = field(default_factory=lambda: _float("BENCH_REDIRECT_RATE_S", 10.0))
    open_loop_connections: int = field(default_factory=lambda: _int("BENCH_OPEN_LOOP_CONNECTIONS", 64))
    batch_seconds: float = field(default_factory=lambda: _float("BENCH_BATCH_S", 10.0))
    batch_clients: int = field(default_factory=lambda: _int("BENCH_BATCH_CLIENTS", 8))
    batch_items: int = field(default_factory=lambda: _int("BENCH_BATCH_ITEMS", 1000))
    batch_http_instances: int = field(default_factory=lambda: _int("BENCH_BATCH_HTTP_INSTANCES", 2))
    e2e_more_instances: tuple[str, ...] = field(default_factory=lambda: tuple(
        s.strip() for s in os.environ.get("BENCH_E2E_MORE_INSTANCES", "").split(",") if s.strip()))
    # Untimed pass-through rounds first, until the broker's JIT compiler settles (bench.broker); 0 skips them.
    warm_broker: bool = field(default_factory=lambda: _int("BENCH_WARM_BROKER", 1) != 0)
    # Which phases run: any of ceiling, kaskade, naive, redirect, batch, attribution, reward, notify (comma-separated).
    phases: tuple[str, ...] = field(default_factory=lambda: tuple(
        p.strip() for p in os.environ.get("BENCH_PHASES", "ceiling,kaskade,naive,redirect,batch").split(",")
        if p.strip()))
