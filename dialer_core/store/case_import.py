"""Case import at scale: chunks of validated rows COPYed into staging tables and upserted.

One connection writes, chunk after chunk, each in its own transaction (or all inside one when
``strict``: a single rejected row then rolls everything back). Rows already imported from the
same CSV text are skipped before parsing (``cases.source_digest``); an external id seen earlier
in the same file is a duplicate, remembered in a temporary table so memory stays bounded
whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dialer_core.cases_csv import CaseRow
from dialer_core.config_errors import RowError

# No command timeout for the bulk statements: a chunk is bounded, but a loaded server must not
# turn a slow chunk into a failed import (the pool's default is 30 s).
BULK_TIMEOUT: float | None = None

_STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS import_case_stage (
    line int, external_id text, debtor_name text, amount_minor bigint, currency text,
    days_past_due int, product text, due_date date, source_digest bigint, debtor_id text,
    address_zones text[], case_id bigint, stored_digest bigint
);
CREATE TEMP TABLE IF NOT EXISTS import_phone_stage (
    external_id text, position int, e164 text, country text, province text, city text
);
CREATE TEMP TABLE IF NOT EXISTS import_seen (external_id text PRIMARY KEY, line int NOT NULL);
TRUNCATE import_seen;
"""
_STAGED_CASE = (
    "line",
    "external_id",
    "debtor_name",
    "amount_minor",
    "currency",
    "days_past_due",
    "product",
    "due_date",
    "source_digest",
    "debtor_id",
    "address_zones",
)
_DROP_SQL = "DROP TABLE IF EXISTS import_case_stage, import_phone_stage, import_seen"

_UPSERT_CASES = """
INSERT INTO cases (campaign_id, external_id, debtor_name, amount_minor, currency,
                   days_past_due, product, due_date, source_digest, debtor_id, address_zones)
SELECT $1, external_id, debtor_name, amount_minor, currency, days_past_due, product, due_date,
       source_digest, nullif(debtor_id, ''), address_zones
FROM import_case_stage ORDER BY line
ON CONFLICT (campaign_id, external_id) DO UPDATE SET
    debtor_name = excluded.debtor_name, amount_minor = excluded.amount_minor,
    currency = excluded.currency, days_past_due = excluded.days_past_due,
    product = excluded.product, due_date = excluded.due_date,
    source_digest = excluded.source_digest, debtor_id = excluded.debtor_id,
    address_zones = excluded.address_zones, updated_at = now()
WHERE (cases.debtor_name, cases.amount_minor, cases.currency, cases.days_past_due,
       cases.product, cases.due_date, cases.debtor_id, cases.address_zones)
      IS DISTINCT FROM
      (excluded.debtor_name, excluded.amount_minor, excluded.currency,
       excluded.days_past_due, excluded.product, excluded.due_date, excluded.debtor_id,
       excluded.address_zones)
RETURNING id, (xmax = 0) AS inserted"""

# Every statement below reaches the campaign's cases through the chunk's own rows, one index
# probe each: the case id is looked up per staged row (a correlated subquery, which PostgreSQL
# always runs as such), and joins go by primary key, never "all cases of the campaign" (what a
# plan from stale statistics would hash, every chunk, on a million-row import).
_CASE_IDS = """
UPDATE import_case_stage s SET (case_id, stored_digest) = (
    SELECT c.id, c.source_digest FROM cases c
    WHERE c.campaign_id = $1 AND c.external_id = s.external_id
)"""

# Same values, new CSV text (e.g. "3250.5" vs "3250.50"): only the digest moves. Usually none;
# the few are updated by primary key.
_STALE_DIGESTS = """
SELECT case_id, source_digest FROM import_case_stage
WHERE stored_digest IS DISTINCT FROM source_digest"""
_REFRESH_DIGESTS = """
UPDATE cases c SET source_digest = u.digest
FROM unnest($1::bigint[], $2::bigint[]) AS u(id, digest) WHERE c.id = u.id"""

_UPSERT_PHONES = """
INSERT INTO phones (case_id, position, e164, country, province, city)
SELECT s.case_id, p.position, p.e164, p.country, p.province, p.city
FROM import_phone_stage p JOIN import_case_stage s ON s.external_id = p.external_id
ON CONFLICT (case_id, e164) DO UPDATE SET position = excluded.position
WHERE phones.position IS DISTINCT FROM excluded.position
RETURNING case_id"""

# The first active phone of each staged case, through the phones' (case_id, ...) index.
_SCHEDULE_NEW = """
INSERT INTO schedule (case_id, campaign_id, phone_id)
SELECT s.case_id, $1, first.id
FROM import_case_stage s
CROSS JOIN LATERAL (
    SELECT p.id FROM phones p WHERE p.case_id = s.case_id AND p.status = 'active'
    ORDER BY p.position, p.id LIMIT 1
) first
ORDER BY s.case_id
ON CONFLICT (case_id) DO NOTHING"""


# One valid row as the writer stages it: (line, external id, the case's record for
# import_case_stage in _STAGED_CASE order, its phones as (e164, country, province, city)). Plain
# tuples: a validation worker sends them back ~5x cheaper than CaseRow objects.
StagedCase = tuple[int, str, tuple[Any, ...], tuple[tuple[str, str, str, str], ...]]


def stage(row: CaseRow, digest: int | None) -> StagedCase:
    """A validated row (and the digest of its CSV text, None when not from a file) as staged."""
    case = (
        row.line,
        row.external_id,
        row.debtor_name,
        row.amount_minor,
        row.currency,
        row.days_past_due,
        row.product,
        row.due_date,
        digest,
        row.debtor_id,
        list(row.address_zones),
    )
    phones = tuple((p.e164, p.country, p.province, p.city) for p in row.phones)
    return row.line, row.external_id, case, phones


@dataclass(frozen=True)
class ImportSummary:
    imported: int
    updated: int
    unchanged: int
    rejected: int

    def __str__(self) -> str:
        return (
            f"imported {self.imported}, updated {self.updated}, "
            f"unchanged {self.unchanged}, rejected {self.rejected}"
        )

    def __add__(self, other: ImportSummary) -> ImportSummary:
        return ImportSummary(
            self.imported + other.imported,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.rejected + other.rejected,
        )


NOTHING = ImportSummary(0, 0, 0, 0)


async def unchanged_ids(
    conn: asyncpg.Connection, campaign_id: int, ids: Sequence[str], digests: Sequence[int]
) -> set[str]:
    """The external ids whose case was last imported from exactly this CSV text."""
    rows = await conn.fetch(  # one index probe per id (see _CASE_IDS)
        """SELECT u.external_id FROM unnest($2::text[], $3::bigint[]) AS u(external_id, digest)
           WHERE u.digest = (SELECT c.source_digest FROM cases c
                             WHERE c.campaign_id = $1 AND c.external_id = u.external_id)""",
        campaign_id,
        list(ids),
        list(digests),
        timeout=BULK_TIMEOUT,
    )
    return {r["external_id"] for r in rows}


class CaseWriter:
    """Writes chunks of one import on one connection: ``async with CaseWriter(...) as w``."""

    def __init__(self, conn: asyncpg.Connection, campaign_id: int) -> None:
        self.conn = conn
        self.campaign_id = campaign_id

    async def __aenter__(self) -> CaseWriter:
        await self.conn.execute(_STAGE_SQL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.execute(_DROP_SQL)

    async def claim(self, ids: Sequence[str], lines: Sequence[int]) -> dict[str, int]:
        """Mark external ids as seen in this file; return those seen before → their first line.

        ``ids`` must be distinct (the caller settles duplicates inside one chunk)."""
        if not ids:
            return {}
        fresh = await self.conn.fetch(
            """INSERT INTO import_seen (external_id, line)
               SELECT * FROM unnest($1::text[], $2::int[])
               ON CONFLICT (external_id) DO NOTHING RETURNING external_id""",
            list(ids),
            list(lines),
            timeout=BULK_TIMEOUT,
        )
        taken = set(ids) - {r["external_id"] for r in fresh}
        if not taken:
            return {}
        earlier = await self.conn.fetch(
            "SELECT external_id, line FROM import_seen WHERE external_id = ANY($1::text[])",
            list(taken),
        )
        return {r["external_id"]: r["line"] for r in earlier}

    async def write(self, rows: Sequence[StagedCase]) -> ImportSummary:
        """Upsert valid rows (cases, phones, new cases scheduled); count what changed."""
        if not rows:
            return NOTHING
        await self.conn.execute("TRUNCATE import_case_stage, import_phone_stage")
        await self.conn.copy_records_to_table(
            "import_case_stage",
            records=[case for _, _, case, _ in rows],
            columns=_STAGED_CASE,
            timeout=BULK_TIMEOUT,
        )
        await self.conn.copy_records_to_table(
            "import_phone_stage",
            records=[
                (external_id, pos, *phone)
                for _, external_id, _, phones in rows
                for pos, phone in enumerate(phones)
            ],
            timeout=BULK_TIMEOUT,
        )
        # Row counts for the planner: joins then probe the cases and phones indexes for the
        # chunk's rows instead of hashing every case of the campaign (a 1M-row import).
        await self.conn.execute("ANALYZE import_case_stage, import_phone_stage")
        changed = await self.conn.fetch(_UPSERT_CASES, self.campaign_id, timeout=BULK_TIMEOUT)
        await self.conn.execute(_CASE_IDS, self.campaign_id, timeout=BULK_TIMEOUT)
        stale = await self.conn.fetch(_STALE_DIGESTS, timeout=BULK_TIMEOUT)
        if stale:
            await self.conn.execute(
                _REFRESH_DIGESTS,
                [r["case_id"] for r in stale],
                [r["source_digest"] for r in stale],
                timeout=BULK_TIMEOUT,
            )
        phones_changed = await self.conn.fetch(_UPSERT_PHONES, timeout=BULK_TIMEOUT)
        await self.conn.execute(_SCHEDULE_NEW, self.campaign_id, timeout=BULK_TIMEOUT)
        inserted = {r["id"] for r in changed if r["inserted"]}
        touched = {r["id"] for r in changed if not r["inserted"]}
        touched |= {r["case_id"] for r in phones_changed} - inserted
        return ImportSummary(
            len(inserted), len(touched), len(rows) - len(inserted) - len(touched), 0
        )


async def record_import(
    conn: asyncpg.Connection,
    campaign_id: int,
    source: str,
    summary: ImportSummary,
    errors: Sequence[RowError],
    *,
    encoding: str = "",
    strict: bool = False,
    committed: bool = True,
) -> None:
    """One row in ``imports``: the counts and the first rejected rows (``errors``)."""
    await conn.execute(
        """INSERT INTO imports (campaign_id, source, imported, updated, unchanged, rejected,
                                errors, encoding, strict, committed)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        campaign_id,
        source,
        summary.imported,
        summary.updated,
        summary.unchanged,
        summary.rejected,
        [{"line": e.line, "column": e.column, "reason": e.reason} for e in errors],
        encoding,
        strict,
        committed,
    )
