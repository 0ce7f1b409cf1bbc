"""``pacedial db migrate|status|stop``: the database as an operator sees it.

``status`` says which database is used (the embedded one and whether it runs, or the
configured URL without its password) and how many migrations are applied and pending; ``stop``
says whether there was anything to stop.
"""

from __future__ import annotations

import os
from typing import TextIO

from dialer_core.store.database import ENV_DSN, open_database, without_password
from dialer_core.store.embedded import EmbeddedPostgres, default_data_dir
from dialer_core.store.migrate import applied_versions, discover, migrate


def embedded_note() -> str | None:
    """The line telling that the embedded server keeps running, or None if not embedded."""
    if os.environ.get(ENV_DSN):
        return None
    server = EmbeddedPostgres(default_data_dir())
    if not server.running():
        return None
    return (
        f"the embedded PostgreSQL keeps running (127.0.0.1:{server.port}, data in "
        f"{server.data_dir}); stop it with: pacedial db stop"
    )


async def run_db(command: str, out: TextIO) -> int:
    """One ``db`` sub-command; returns the exit status."""
    if command == "stop":
        server = EmbeddedPostgres(default_data_dir())
        if server.running():
            server.stop()
            print(f"embedded PostgreSQL stopped (data in {server.data_dir})", file=out)
        else:
            print(f"embedded PostgreSQL was not running (data in {server.data_dir})", file=out)
        return 0
    if command == "migrate":
        async with open_database(apply_migrations=False) as pool, pool.acquire() as conn:
            applied = await migrate(conn)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"), file=out)
        return 0
    dsn = os.environ.get(ENV_DSN)
    where = without_password(dsn) if dsn else f"embedded PostgreSQL in {default_data_dir()}"
    if not dsn and not EmbeddedPostgres(default_data_dir()).running():
        print(f"database: {where} (not running; the next command starts it)", file=out)
        return 0
    async with open_database(apply_migrations=False) as pool, pool.acquire() as conn:
        done = await applied_versions(conn)
    shipped = discover()
    pending = [m.name for m in shipped if m.version not in done]
    latest = max((m.name for m in shipped if m.version in done), default="none")
    print(f"database: {where} (running)", file=out)
    print(
        f"migrations: {len(done)} applied (latest {latest}), {len(pending)} pending"
        + (f": {', '.join(pending)} — run pacedial db migrate" if pending else ""),
        file=out,
    )
    return 0
