"""Do-not-call entries in PostgreSQL (``dnc_entries``): the list a campaign obeys, and CRUD."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from dialer_core.compliance.dnc import DncEntry, DncList


async def load_dnc(conn: asyncpg.Connection, campaign: str) -> DncList:
    """The DNC list that applies to a campaign: the global entries plus the campaign's own."""
    rows = await conn.fetch(
        "SELECT pattern, source, reason FROM dnc_entries WHERE source IN ('global', $1)",
        campaign,
    )
    return DncList(DncEntry(r["pattern"], r["source"], r["reason"]) for r in rows)


@dataclass(frozen=True)
class StoredDncEntry:
    """A row of ``dnc_entries``."""

    id: int
    pattern: str
    source: str
    reason: str
    created_at: datetime


def _entry(row: asyncpg.Record) -> StoredDncEntry:
    return StoredDncEntry(
        row["id"], row["pattern"], row["source"], row["reason"], row["created_at"]
    )


async def list_entries(
    conn: asyncpg.Connection, source: str = "", limit: int = 100, offset: int = 0
) -> tuple[int, list[StoredDncEntry]]:
    """How many entries there are (of ``source``, or all when empty) and one page of them."""
    rows = await conn.fetch(
        """SELECT * FROM dnc_entries WHERE ($1 = '' OR source = $1)
           ORDER BY id LIMIT $2 OFFSET $3""",
        source,
        limit,
        offset,
    )
    total = await conn.fetchval(
        "SELECT count(*) FROM dnc_entries WHERE ($1 = '' OR source = $1)", source
    )
    return total, [_entry(r) for r in rows]


async def add_entry(
    conn: asyncpg.Connection,
    pattern: str,
    source: str = "global",
    reason: str = "",
    created_at: datetime | None = None,
) -> tuple[StoredDncEntry, bool]:
    """Add (or re-reason) one number or ``+prefix*`` pattern; True when it is new."""
    row = await conn.fetchrow(
        """INSERT INTO dnc_entries (pattern, source, reason, created_at)
           VALUES ($1, $2, $3, coalesce($4, now()))
           ON CONFLICT (pattern, source) DO UPDATE SET reason = excluded.reason
           RETURNING *, (xmax = 0) AS inserted""",
        pattern,
        source,
        reason,
        created_at,
    )
    return _entry(row), row["inserted"]


async def add_entries(conn: asyncpg.Connection, entries: Iterable[DncEntry]) -> int:
    """Add many entries in one statement; returns how many were not listed yet."""
    listed = list(entries)
    return await conn.fetchval(
        """WITH ins AS (
               INSERT INTO dnc_entries (pattern, source, reason)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
               ON CONFLICT (pattern, source) DO NOTHING RETURNING 1)
           SELECT count(*) FROM ins""",
        [e.pattern for e in listed],
        [e.source for e in listed],
        [e.reason for e in listed],
    )


async def delete_entry(conn: asyncpg.Connection, entry_id: int) -> int | None:
    """Remove one entry; its id, or None when there was none."""
    return await conn.fetchval("DELETE FROM dnc_entries WHERE id = $1 RETURNING id", entry_id)
