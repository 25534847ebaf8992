"""The benchmark's own database, created anew for every run (deploy/local/postgres.sh bench-db).

On the shared `kaskade` database each run's tenants stayed behind (the ledger refuses deletes by
design), and the figures drifted with them: the dev database had grown to 39 GB, and the hot
campaign ran at 4,333-4,753 rewards/s there against 5,014-6,089 once it was wiped. A run now
starts from empty schemas, migrated by the services it starts, and leaves nothing in `kaskade`.
Phases that measure a stored history (attribution) write that history themselves.
BENCH_FRESH_DATABASE=0 benches against the databases the environment names instead.
"""
from __future__ import annotations

import os
import subprocess
from urllib.parse import urlsplit, urlunsplit

from bench.config import ROOT

NAME = "kaskade_benchmark"
# Everything the bench and the services it starts connect with.
DSN_VARS = ("KASKADE_SHARE_INGEST_DATABASE_URL", "KASKADE_ATTRIBUTION_DATABASE_URL", "KASKADE_REWARD_DATABASE_URL",
            "KASKADE_NOTIFICATION_DATABASE_URL", "KASKADE_ADMIN_DATABASE_URL", "KASKADE_BENCH_DATABASE_URL")
LOCAL = ("127.0.0.1", "localhost")


def use_fresh_database() -> str | None:
    """Re-create the bench database and point this process's (and its children's) DSNs at it.
    Returns why not, when the environment names a server other than the local one."""
    if os.environ.get("BENCH_FRESH_DATABASE", "1") == "0":
        return "BENCH_FRESH_DATABASE=0"
    dsns = {v: os.environ[v] for v in DSN_VARS if os.environ.get(v)}
    remote = sorted(v for v, dsn in dsns.items() if urlsplit(dsn).hostname not in LOCAL)
    if remote:
        return f"{', '.join(remote)} name a server other than this machine's"
    subprocess.run([str(ROOT / "deploy" / "local" / "postgres.sh"), "bench-db"], check=True,
                   stdout=subprocess.DEVNULL)
    for var, dsn in dsns.items():
        os.environ[var] = urlunsplit(urlsplit(dsn)._replace(path=f"/{NAME}"))
    return None
