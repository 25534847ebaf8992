"""Postgres pools bound to one service's schema."""
from __future__ import annotations

import asyncpg
import orjson


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads,
                              schema="pg_catalog")


async def create_pool(dsn: str, schema: str, *, min_size: int = 2, max_size: int = 8) -> asyncpg.Pool:
    """A pool whose connections see only `schema` (plus pg_catalog) unqualified."""
    return await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session,
        server_settings={"search_path": schema, "application_name": f"kaskade-{schema}"},
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's default reset query (RESET ALL, UNLISTEN, advisory unlock): Kaskade
    never changes session state (only SET LOCAL and transaction-scoped locks), and that query costs
    a round trip on every release, on the hottest paths. An open transaction is still rolled back."""


async def collation_warning(conn: asyncpg.Connection) -> str | None:
    """Why the database is slower than it should be, or None. Kaskade's text columns are ids and
    codes, compared for equality and ordered only for paging: under any collation but C, each
    comparison in an index search goes through the locale (deploy/README.md)."""
    collation = await conn.fetchval("SELECT datcollate FROM pg_database WHERE datname = current_database()")
    if collation in ("C", "POSIX"):
        return None
    return (f"database {await conn.fetchval('SELECT current_database()')!r} collates text as {collation!r}, "
            "so every index search on a text key calls the locale (4-15% more Postgres CPU per event, measured); "
            "a database created with LC_COLLATE 'C' compares bytes (deploy/README.md)")


# Errors after which the same transaction may well succeed: the database restarted or dropped
# us, or two writers collided. Anything else is a property of the event and is counted.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


def is_unavailable(exc: BaseException) -> bool:
    """The database cannot be reached at all: not the event's fault, so never dead-letter for it."""
    return isinstance(exc, (OSError, ConnectionError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                            asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError,
                            asyncpg.TooManyConnectionsError))
