"""Do-not-call entries in PostgreSQL (table ``dnc_entries``, managed over the API)."""

from __future__ import annotations

import asyncpg

from dialer_core.compliance.dnc import DncEntry, DncList


async def load_dnc(conn: asyncpg.Connection, campaign: str) -> DncList:
    """The DNC list that applies to a campaign: the global entries plus the campaign's own."""
    rows = await conn.fetch(
        "SELECT pattern, source, reason FROM dnc_entries WHERE source IN ('global', $1)",
        campaign,
    )
    return DncList(DncEntry(r["pattern"], r["source"], r["reason"]) for r in rows)
