"""Apply the numbered SQL migrations in ``sql/`` (``NNN_name.sql``), each once, in order.

The folder is the shipped one (dialer_core.package_data): package data in a wheel, the
repository's ``sql/`` in a checkout. A missing or empty folder is an error, never "nothing to
apply" (that would leave a database without tables and a confusing failure later)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from dialer_core.package_data import MissingPackageData, shipped_dir

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_LOCK_KEY = 0x70616365  # advisory lock: several processes may migrate at start-up


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(sql_dir: Path | None = None) -> list[Migration]:
    """The migration files in order; a badly named .sql file is an error, not skipped, and a
    missing or empty folder raises MissingPackageData."""
    sql_dir = shipped_dir("sql") if sql_dir is None else sql_dir
    if not sql_dir.is_dir() or not any(sql_dir.glob("*.sql")):
        raise MissingPackageData(
            f"{sql_dir}: no migration files (NNN_name.sql) there; "
            "reinstall pacedial or point at the folder that holds them"
        )
    found: list[Migration] = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if m is None:
            raise ValueError(f"{path}: migration files are named NNN_lower_case.sql")
        found.append(Migration(int(m.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"{sql_dir}: two migrations share a number: {versions}")
    return found


async def migrate(conn: asyncpg.Connection, sql_dir: Path | None = None) -> list[str]:
    """Apply pending migrations; return the names applied. Edited applied files are refused."""
    migrations = discover(sql_dir)  # before touching the database: a broken install says so
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"]: r for r in await conn.fetch("SELECT * FROM schema_migrations")}
        for mig in migrations:
            if mig.version in done:
                if done[mig.version]["checksum"] != mig.checksum:
                    raise RuntimeError(
                        f"sql/{mig.name} was edited after it was applied; "
                        "add a new numbered migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            applied_now.append(mig.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
