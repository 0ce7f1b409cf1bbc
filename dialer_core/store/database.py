"""Opening the database: a configured DSN, or the embedded PostgreSQL by default."""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

from dialer_core.store.embedded import EmbeddedPostgres, default_data_dir
from dialer_core.store.migrate import migrate

ENV_DSN = "PACEDIAL_DATABASE_URL"
# What a lost or refusing database raises (server errors, a dead socket, a connection killed
# in the middle of an operation): callers keep their data and retry instead of failing.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typ in ("json", "jsonb"):
        await conn.set_type_codec(typ, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def ping(conn: asyncpg.Connection) -> None:
    """One trivial round trip to the server."""
    await conn.fetchval("SELECT 1")


async def create_pool(
    dsn: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    connection_class: type[asyncpg.Connection] = asyncpg.Connection,
) -> asyncpg.Pool:
    """A pool whose connections map json/jsonb to Python objects."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        connection_class=connection_class,
    )


@asynccontextmanager
async def open_database(
    dsn: str | None = None, *, data_dir: Path | None = None, apply_migrations: bool = True
):
    """Yield a migrated pool on ``dsn``, $PACEDIAL_DATABASE_URL, or the embedded server.

    The embedded server is left running after exit (the next command reuses it);
    ``pacedial db stop`` stops it.
    """
    dsn = dsn or os.environ.get(ENV_DSN)
    if not dsn:
        dsn = EmbeddedPostgres(data_dir or default_data_dir()).start()
    pool = await create_pool(dsn)
    try:
        if apply_migrations:
            async with pool.acquire() as conn:
                await migrate(conn)
        yield pool
    finally:
        await pool.close()
