"""Numbered plain-SQL migrations, applied inside the service's own schema.

The ledger (`schema_migrations`) lives in that schema too. Platform tables come first, under
the `platform/` prefix, then the service's own files. An applied file that was edited afterwards
stops the service: silently diverging schemas are worse than a failed start.
"""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import asyncpg

PLATFORM_SQL = Path(__file__).parent / "sql"
log = logging.getLogger(__name__)


class MigrationError(RuntimeError):
    pass


def _files(directory: Path, prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}{p.name}", p.read_text()) for p in sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))]


async def migrate(conn: asyncpg.Connection, schema: str, service_dir: Path) -> list[str]:
    """Apply pending migrations; returns the names applied now."""
    pending = _files(PLATFORM_SQL, "platform/") + _files(service_dir, "")
    applied_now: list[str] = []
    async with conn.transaction():
        # Several instances may start at once; one migrates, the others wait and find nothing to do.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"kaskade-migrate:{schema}")
        await conn.execute(f'SET LOCAL search_path TO "{schema}"')
        await conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
            name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        for name, sql in pending:
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            if name in done:
                if done[name] != checksum:
                    raise MigrationError(f"migration {name} was changed after it was applied in schema {schema}")
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)", name, checksum)
            applied_now.append(name)
    if applied_now:
        log.info("applied migrations", extra={"schema": schema, "migrations": applied_now})
    return applied_now
