"""Do-not-call entries in PostgreSQL (table ``dnc_entries``, managed over the API)."""

from __future__ import annotations

import asyncpg

from dialer_core.compliance.dnc import DncEntry, DncList


async def load_dnc(conn: asyncpg.Connection, campaign: str) -> DncList:
    """The DNC list that applies to a campaign: the global entries plus the campaign's own,
    stamped with the change counter read before it (see ``fresh_dnc``)."""
    version = await conn.fetchval("SELECT version FROM dnc_version")
    rows = await conn.fetch(
        "SELECT pattern, source, reason FROM dnc_entries WHERE source IN ('global', $1)",
        campaign,
    )
    return DncList((DncEntry(r["pattern"], r["source"], r["reason"]) for r in rows), version)


async def fresh_dnc(conn: asyncpg.Connection, campaign: str, current: DncList) -> DncList:
    """``current`` if no DNC entry changed since it was loaded (one indexed read), else the
    list reloaded: called before each launch round, right before the Originates."""
    version = await conn.fetchval("SELECT version FROM dnc_version")
    if current.version is not None and current.version == version:
        return current
    return await load_dnc(conn, campaign)
