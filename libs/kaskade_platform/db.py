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
        dsn, min_size=min_size, max_size=max_size, init=_init_connection,
        server_settings={"search_path": schema, "application_name": f"kaskade-{schema}"},
    )


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
