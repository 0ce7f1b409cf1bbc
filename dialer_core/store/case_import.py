"""Case import at scale: chunks of validated rows COPYed into staging tables and upserted.

Each ``CaseWriter`` writes on its own connection, chunk after chunk, each in its own transaction
(or all inside one when ``strict``: a single rejected row then rolls everything back); several
may write chunks of one file at once. Rows already imported from the
same CSV text are skipped before parsing (``cases.source_digest``); an external id seen earlier
in the same file is a duplicate, remembered in a temporary table (``IdClaims``) so memory stays
bounded whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dialer_core.cases_csv import CaseRow
from dialer_core.config_errors import RowError

# No command timeout in practice for the bulk statements (and for a chunk waiting its turn):
# a chunk is bounded, but a loaded server must not turn a slow chunk into a failed import (the
# pool's default is 30 s; asyncpg reads timeout=None as "the default", so a day it is).
BULK_TIMEOUT = 86_400.0

_STAGE_SQL = """
CREATE TEMP TABLE IF NOT EXISTS import_case_stage (
    line int, external_id text, debtor_name text, amount_minor bigint, currency text,
    days_past_due int, product text, due_date date, source_digest bigint, debtor_id text,
    address_zones text[]
);
CREATE TEMP TABLE IF NOT EXISTS import_phone_stage (
    external_id text, position int, e164 text, country text, province text, city text
);
CREATE TEMP TABLE IF NOT EXISTS import_case_ids (
    external_id text, case_id bigint, inserted boolean, changed boolean
);
"""
_SEEN_SQL = """
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
_DROP_SQL = "DROP TABLE IF EXISTS import_case_stage, import_phone_stage, import_case_ids"

# Set-based, one chunk per statement; no statistics are needed on the staging tables: they
# are only scanned and hash-joined with one another, and the campaign's cases and phones are
# reached one index probe per staged row (ON CONFLICT, a correlated subquery or LATERAL ...
# OFFSET 0, which PostgreSQL always runs as such), never "all cases of the campaign".
#
# Upsert the staged cases and note every staged case's id (import_case_ids). Each row comes
# with its id and debtor key (what cases_set_debtor_key would set: sql/240 then skips the
# function), ids taken in file order as the column default would; the upsert
# returns those it inserted or changed; the others (same values) are looked up. Answers the
# counts and the cases whose values are unchanged but whose CSV text is new (only the digest
# moves: usually none, updated by primary key).
_UPSERT_CASES = """
WITH up AS (
    INSERT INTO cases (id, campaign_id, external_id, debtor_name, amount_minor, currency,
                       days_past_due, product, due_date, source_digest, debtor_id, debtor_key,
                       address_zones)
    SELECT id, $1, external_id, debtor_name, amount_minor, currency, days_past_due, product,
           due_date, source_digest, debtor_id,
           CASE WHEN debtor_id IS NULL THEN 'case:' || id ELSE 'id:' || debtor_id END,
           address_zones
    FROM (
        SELECT nextval('cases_id_seq') AS id, s.*
        FROM (SELECT external_id, debtor_name, amount_minor, currency, days_past_due, product,
                     due_date, source_digest, nullif(debtor_id, '') AS debtor_id, address_zones
              FROM import_case_stage ORDER BY line) s
    ) numbered
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
    RETURNING id, external_id, (xmax = 0) AS inserted
), kept AS (
    SELECT s.external_id, c.id, s.source_digest, c.source_digest AS stored
    FROM import_case_stage s
    CROSS JOIN LATERAL (
        SELECT c.id, c.source_digest FROM cases c
        WHERE c.campaign_id = $1 AND c.external_id = s.external_id OFFSET 0
    ) c
    WHERE s.external_id NOT IN (SELECT external_id FROM up)
), noted AS (
    INSERT INTO import_case_ids (external_id, case_id, inserted, changed)
    SELECT external_id, id, inserted, true FROM up
    UNION ALL SELECT external_id, id, false, false FROM kept
)
SELECT (SELECT count(*) FROM up WHERE inserted) AS inserted,
       (SELECT count(*) FROM up WHERE NOT inserted) AS updated,
       ARRAY(SELECT id FROM kept WHERE stored IS DISTINCT FROM source_digest) AS stale_ids,
       ARRAY(SELECT source_digest FROM kept WHERE stored IS DISTINCT FROM source_digest)
           AS stale_digests"""
_REFRESH_DIGESTS = """
UPDATE cases c SET source_digest = u.digest
FROM unnest($1::bigint[], $2::bigint[]) AS u(id, digest) WHERE c.id = u.id"""

# Add the phones: those of new cases by plain inserts (a case made by this transaction has no
# phones yet and no other transaction can add any; a row's numbers are distinct), the others
# upserted; schedule each new case on its first number (its phones are all new and active);
# count the cases that were not changed themselves but whose phones were.
_UPSERT_PHONES = """
WITH added AS (
    INSERT INTO phones (case_id, position, e164, country, province, city)
    SELECT i.case_id, p.position, p.e164, p.country, p.province, p.city
    FROM import_phone_stage p JOIN import_case_ids i ON i.external_id = p.external_id
    WHERE i.inserted
    RETURNING id, case_id, position
), ph AS (
    INSERT INTO phones (case_id, position, e164, country, province, city)
    SELECT i.case_id, p.position, p.e164, p.country, p.province, p.city
    FROM import_phone_stage p JOIN import_case_ids i ON i.external_id = p.external_id
    WHERE NOT i.inserted
    ON CONFLICT (case_id, e164) DO UPDATE SET position = excluded.position
    WHERE phones.position IS DISTINCT FROM excluded.position
    RETURNING id, case_id, position
), scheduled AS (
    INSERT INTO schedule (case_id, campaign_id, phone_id)
    SELECT DISTINCT ON (a.case_id) a.case_id, $1, a.id
    FROM added a
    ORDER BY a.case_id, a.position, a.id
)
SELECT count(DISTINCT ph.case_id)
FROM ph JOIN import_case_ids i ON i.case_id = ph.case_id
WHERE NOT i.changed"""

# A case that existed before and has no schedule row (worked to the end, say) is scheduled
# again on its first active number, as when it was new.
_SCHEDULE_EXISTING = """
INSERT INTO schedule (case_id, campaign_id, phone_id)
SELECT i.case_id, $1, first.id
FROM import_case_ids i
CROSS JOIN LATERAL (
    SELECT p.id FROM phones p WHERE p.case_id = i.case_id AND p.status = 'active'
    ORDER BY p.position, p.id LIMIT 1
) first
WHERE NOT i.inserted AND (SELECT s.case_id FROM schedule s WHERE s.case_id = i.case_id) IS NULL
ORDER BY i.case_id
ON CONFLICT (case_id) DO NOTHING"""

# Foreign-key checks without a query per row (sql/241): a superuser's import session writes a
# chunk's rows with session_replication_role = replica, where PostgreSQL's foreign-key triggers
# do not fire, and takes itself the locks those checks take on rows it did not create. Every
# row a chunk references is then either its own (a new case, its new phones: invisible to
# others until commit) or locked FOR KEY SHARE for the rest of the transaction: the campaign
# (cases.campaign_id, schedule.campaign_id) and the existing cases that get phones. The
# triggers of these tables fire ALWAYS, so they run as before; a later trigger or foreign key
# that the import does not account for keeps it on the ordinary path (``_unchecked_allowed``).
_CHECKED_FOREIGN_KEYS = {
    ("cases", "FOREIGN KEY (campaign_id) REFERENCES campaigns(id)"),
    ("phones", "FOREIGN KEY (case_id) REFERENCES cases(id)"),
    ("schedule", "FOREIGN KEY (campaign_id) REFERENCES campaigns(id)"),
    ("schedule", "FOREIGN KEY (case_id) REFERENCES cases(id)"),
    ("schedule", "FOREIGN KEY (phone_id) REFERENCES phones(id)"),
}
_WRITTEN_TABLES = "'cases'::regclass, 'phones'::regclass, 'schedule'::regclass"
_ELIGIBLE = f"""
SELECT current_setting('is_superuser') = 'on' AS superuser,
       NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid IN ({_WRITTEN_TABLES})
                   AND NOT tgisinternal AND tgenabled <> 'A') AS triggers_always,
       ARRAY(SELECT conrelid::regclass::text || '|' || pg_get_constraintdef(oid)
             FROM pg_constraint WHERE contype = 'f' AND conrelid IN ({_WRITTEN_TABLES}))
           AS foreign_keys"""
# Lock the campaign as its foreign-key checks would and stop those checks (no row: the
# campaign is gone and the ordinary checks report it).
_UNCHECKED = """
SELECT set_config('session_replication_role', 'replica', true)
FROM campaigns WHERE id = $1 FOR KEY SHARE"""
_CHECKED = "SELECT set_config('session_replication_role', 'origin', true)"
# Lock the chunk's cases that existed before (they may get phones); false when one of them is
# gone (deleted since): that chunk's phones then take the ordinary checks, which report it.
_LOCK_EXISTING = """
WITH existing AS (SELECT case_id FROM import_case_ids WHERE NOT inserted),
locked AS (
    SELECT c.id FROM cases c WHERE c.id IN (SELECT case_id FROM existing) FOR KEY SHARE
)
SELECT (SELECT count(*) FROM locked) = (SELECT count(*) FROM existing)"""

# Claim a chunk's external ids for this file; answer those claimed by an earlier chunk (the
# statement's snapshot does not see its own inserts) with their first line.
_CLAIM = """
WITH claimed AS (
    INSERT INTO import_seen (external_id, line)
    SELECT * FROM unnest($1::text[], $2::int[])
    ON CONFLICT (external_id) DO NOTHING
)
SELECT external_id, line FROM (
    SELECT u.external_id,
           (SELECT s.line FROM import_seen s WHERE s.external_id = u.external_id) AS line
    FROM unnest($1::text[]) AS u(external_id) OFFSET 0
) seen
WHERE line IS NOT NULL"""


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
    phones = tuple(map(tuple, row.phones))  # plain tuples: pickled fast
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


async def imported_from_files(conn: asyncpg.Connection, campaign_id: int) -> bool:
    """Whether any case of the campaign was imported from a file (so a row may be unchanged)."""
    return await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM cases WHERE campaign_id = $1 AND source_digest IS NOT NULL)",
        campaign_id,
        timeout=BULK_TIMEOUT,
    )


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


class IdClaims:
    """The external ids of one file seen so far, on one connection: ``async with IdClaims(c)``.

    Chunks claim their ids in file order, so the first line of an id wins whichever chunk is
    written first."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def __aenter__(self) -> IdClaims:
        await self.conn.execute(_SEEN_SQL)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.execute("DROP TABLE IF EXISTS import_seen")

    async def claim(self, ids: Sequence[str], lines: Sequence[int]) -> dict[str, int]:
        """Mark external ids as seen in this file; return those seen before → their first line.

        ``ids`` must be distinct (the caller settles duplicates inside one chunk)."""
        if not ids:
            return {}
        earlier = await self.conn.fetch(_CLAIM, list(ids), list(lines), timeout=BULK_TIMEOUT)
        return {r["external_id"]: r["line"] for r in earlier}


class CaseWriter:
    """Writes chunks of one import on one connection: ``async with CaseWriter(...) as w``.

    Several writers may write chunks of one file at once, each chunk in its own transaction:
    ``write(rows, after=...)`` upserts the cases, then waits for the transaction that holds the
    advisory lock ``after`` (the chunk before, see ``take_turn``) to end before it adds phones
    (sharing a number merges debtors: each chunk must see the phones of the chunks before it).
    """

    def __init__(self, conn: asyncpg.Connection, campaign_id: int) -> None:
        self.conn = conn
        self.campaign_id = campaign_id
        self.unchecked = False  # foreign keys by set-based locks (see _CHECKED_FOREIGN_KEYS)

    async def __aenter__(self) -> CaseWriter:
        await self.conn.execute(_STAGE_SQL)
        self.unchecked = await _unchecked_allowed(self.conn)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.execute(_DROP_SQL)

    async def take_turn(self, turn: tuple[int, int]) -> None:
        """Hold the advisory lock ``turn`` until this transaction ends (a later chunk waits)."""
        await self.conn.execute("SELECT pg_advisory_xact_lock($1, $2)", *turn, timeout=BULK_TIMEOUT)

    async def write(
        self, rows: Sequence[StagedCase], *, after: tuple[int, int] | None = None
    ) -> ImportSummary:
        """Upsert valid rows (cases, phones, new cases scheduled); count what changed."""
        conn = self.conn
        if not rows:
            if after is not None:
                await self.take_turn(after)
            return NOTHING
        await conn.execute(
            "TRUNCATE import_case_stage, import_phone_stage, import_case_ids", timeout=BULK_TIMEOUT
        )
        await conn.copy_records_to_table(
            "import_case_stage",
            records=[case for _, _, case, _ in rows],
            columns=_STAGED_CASE,
            timeout=BULK_TIMEOUT,
        )
        await conn.copy_records_to_table(
            "import_phone_stage",
            records=[
                (external_id, pos, *phone)
                for _, external_id, _, phones in rows
                for pos, phone in enumerate(phones)
            ],
            timeout=BULK_TIMEOUT,
        )
        unchecked = self.unchecked and (
            await conn.fetchval(_UNCHECKED, self.campaign_id, timeout=BULK_TIMEOUT) is not None
        )
        cases = await conn.fetchrow(_UPSERT_CASES, self.campaign_id, timeout=BULK_TIMEOUT)
        if (
            unchecked
            and cases["inserted"] < len(rows)
            and not await conn.fetchval(_LOCK_EXISTING, timeout=BULK_TIMEOUT)
        ):
            await conn.execute(_CHECKED)
            unchecked = False
        if cases["stale_ids"]:
            await conn.execute(
                _REFRESH_DIGESTS, cases["stale_ids"], cases["stale_digests"], timeout=BULK_TIMEOUT
            )
        if after is not None:
            await self.take_turn(after)
        phones_only = await conn.fetchval(_UPSERT_PHONES, self.campaign_id, timeout=BULK_TIMEOUT)
        if unchecked:
            await conn.execute(_CHECKED)  # never past the statements the locks stand for
        if cases["inserted"] < len(rows):
            await conn.execute(_SCHEDULE_EXISTING, self.campaign_id, timeout=BULK_TIMEOUT)
        touched = cases["updated"] + phones_only
        return ImportSummary(cases["inserted"], touched, len(rows) - cases["inserted"] - touched, 0)


async def _unchecked_allowed(conn: asyncpg.Connection) -> bool:
    """Whether this session may write chunks without per-row foreign-key checks: it is a
    superuser's, every trigger of the written tables fires ALWAYS and their foreign keys are
    the ones the writer locks for."""
    found = await conn.fetchrow(_ELIGIBLE)
    keys = {tuple(key.split("|", 1)) for key in found["foreign_keys"]}
    keys = {(table, rule.split(" ON ")[0]) for table, rule in keys}
    return found["superuser"] and found["triggers_always"] and keys == _CHECKED_FOREIGN_KEYS


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
