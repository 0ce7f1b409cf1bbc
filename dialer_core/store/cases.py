"""Campaign rows and the import of a cases file held in memory (the demo, tests, small uploads).

Large files stream through ``dialer_core.importer``; both write through ``CaseWriter``.
"""

from __future__ import annotations

import asyncpg

from dialer_core.cases_csv import CaseRow
from dialer_core.config_errors import RowError
from dialer_core.store.case_import import CaseWriter, ImportSummary, record_import, stage


async def import_cases(
    conn: asyncpg.Connection,
    campaign_id: int,
    rows: tuple[CaseRow, ...],
    errors: tuple[RowError, ...],
    source: str,
) -> ImportSummary:
    """Upsert cases and phones; schedule new cases; record the import run. One transaction."""
    async with CaseWriter(conn, campaign_id) as writer, conn.transaction():
        written = await writer.write([stage(row, None) for row in rows])
        summary = written + ImportSummary(0, 0, 0, len(errors))
        await record_import(conn, campaign_id, source, summary, errors)
    return summary
