"""Campaign rows and the import of a cases file held in memory (the demo, tests, small uploads).

Large files stream through ``dialer_core.importer``; both write through ``CaseWriter``.
"""

from __future__ import annotations

import asyncpg

from dialer_core.cases_csv import CaseRow
from dialer_core.config_errors import RowError
from dialer_core.store.case_import import CaseWriter, ImportSummary, record_import


async def ensure_campaign(
    conn: asyncpg.Connection, name: str, mode: str = "progressive", config: dict | None = None
) -> int:
    """The campaign's id, creating it if needed (config is replaced when given)."""
    row = await conn.fetchrow(
        """INSERT INTO campaigns (name, mode, config) VALUES ($1, $2, $3)
           ON CONFLICT (name) DO UPDATE SET
               config = CASE WHEN $4 THEN excluded.config ELSE campaigns.config END,
               mode = CASE WHEN $4 THEN excluded.mode ELSE campaigns.mode END
           RETURNING id""",
        name,
        mode,
        config or {},
        config is not None,
    )
    return row["id"]


async def import_cases(
    conn: asyncpg.Connection,
    campaign_id: int,
    rows: tuple[CaseRow, ...],
    errors: tuple[RowError, ...],
    source: str,
) -> ImportSummary:
    """Upsert cases and phones; schedule new cases; record the import run. One transaction."""
    async with CaseWriter(conn, campaign_id) as writer, conn.transaction():
        written = await writer.write(rows, [None] * len(rows))
        summary = written + ImportSummary(0, 0, 0, len(errors))
        await record_import(conn, campaign_id, source, summary, errors)
    return summary
