"""Opening the database: a configured DSN, or the embedded PostgreSQL by default."""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from dialer_core.operator_errors import DatabaseUnreachable
from dialer_core.store.embedded import EmbeddedPostgres, EmbeddedPostgresError, default_data_dir
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
    **options: Any,
) -> asyncpg.Pool:
    """A pool whose connections map json/jsonb to Python objects (``options``: any other
    ``asyncpg.create_pool`` argument, e.g. ``statement_cache_size``)."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        connection_class=connection_class,
        **options,
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
        where = data_dir or default_data_dir()
        try:
            dsn = EmbeddedPostgres(where).start()
        except EmbeddedPostgresError as exc:
            raise DatabaseUnreachable(
                "the embedded PostgreSQL did not start", str(where), str(exc)
            ) from exc
    try:
        pool = await create_pool(dsn)
    except DATABASE_ERRORS as exc:
        raise DatabaseUnreachable(
            "cannot reach the database",
            f"{without_password(dsn)} ({_reason(exc)})",
            "check [database] url in the site file or PACEDIAL_DATABASE_URL, and that "
            "PostgreSQL runs and accepts this user",
        ) from exc
    try:
        if apply_migrations:
            async with pool.acquire() as conn:
                await migrate(conn)
        yield pool
    finally:
        await pool.close()


def without_password(dsn: str) -> str:
    """The DSN to show: user, host, port and database, never the password."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
